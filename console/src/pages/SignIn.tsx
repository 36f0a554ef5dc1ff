import { useState } from 'react';
import Box from '@cloudscape-design/components/box';
import Button from '@cloudscape-design/components/button';
import Container from '@cloudscape-design/components/container';
import Form from '@cloudscape-design/components/form';
import FormField from '@cloudscape-design/components/form-field';
import Header from '@cloudscape-design/components/header';
import Input from '@cloudscape-design/components/input';
import SpaceBetween from '@cloudscape-design/components/space-between';
import { signIn, type Session } from '../api.ts';

/** Sign-in with an identity's access key: exchanged once for a session, never kept by the page. */
export function SignIn({ onSignedIn }: { onSignedIn: (s: Session) => void }) {
  const [accessKeyId, setAccessKeyId] = useState('');
  const [secret, setSecret] = useState('');
  const [token, setToken] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setBusy(true);
    setError('');
    try {
      const s = await signIn({ accessKeyId: accessKeyId.trim(), secretAccessKey: secret, ...(token ? { sessionToken: token } : {}) });
      setSecret('');
      setToken('');
      onSignedIn(s);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main>
      <Box margin={{ top: 'xxxl' }} padding="l">
        <div style={{ maxWidth: 480, margin: '0 auto' }}>
          <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
            <Form
              header={<Header variant="h1" description="Sign in with the access key of an identity configured on this OpenTrail server.">OpenTrail console</Header>}
              actions={<Button variant="primary" formAction="submit" loading={busy} data-testid="signin">Sign in</Button>}
              errorText={error || undefined}
              errorIconAriaLabel="Error"
            >
              <Container>
                <SpaceBetween size="l">
                  <FormField label="Access key ID">
                    <Input value={accessKeyId} onChange={(e) => setAccessKeyId(e.detail.value)} autoComplete="username" spellcheck={false} autoFocus />
                  </FormField>
                  <FormField label="Secret access key" description="Sent once to the server over this connection; the page does not keep it.">
                    <Input value={secret} onChange={(e) => setSecret(e.detail.value)} type="password" autoComplete="current-password" />
                  </FormField>
                  <FormField label="Session token" description="Only for AssumedRole keys that require one." constraintText="Optional">
                    <Input value={token} onChange={(e) => setToken(e.detail.value)} type="password" autoComplete="off" />
                  </FormField>
                </SpaceBetween>
              </Container>
            </Form>
          </form>
        </div>
      </Box>
    </main>
  );
}
