// Screenshots of the web console's pages for the README and docs/console.md (docs/img/console-*.png):
// a real server with some traffic and a trail, a headless Chromium (test/helpers/browser.ts).
//   node scripts/console-screenshots.ts
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTrailCommand, PutEventSelectorsCommand, StartLoggingCommand } from '@aws-sdk/client-cloudtrail';
import { ACCOUNT_A, cloudTrailClient, startServer, tempDir } from '../test/helpers/server.ts';
import { ingest, traffic } from '../test/helpers/delivery.ts';
import { ensureConsoleBuilt, launchChromium } from '../test/helpers/browser.ts';

const out = join(import.meta.dirname, '..', 'docs', 'img');
mkdirSync(out, { recursive: true });
ensureConsoleBuilt();
const alice = ACCOUNT_A.identities[1]!;
const buckets = tempDir('opentrail-shots-buckets-');
mkdirSync(join(buckets, 'audit-logs'));
const server = await startServer({ accounts: [ACCOUNT_A], regions: ['us-east-1', 'eu-west-1'], objectStore: { type: 'filesystem', root: buckets } });
const browser = await launchChromium();
try {
  const now = Date.now();
  await ingest(server.url, alice, traffic(300, { accounts: [ACCOUNT_A.id], regions: ['us-east-1'], eventTimeMs: (i) => now - (i + 1) * 11_000 }));
  const sdk = cloudTrailClient(server.url, alice);
  await sdk.send(new CreateTrailCommand({ Name: 'org-audit', S3BucketName: 'audit-logs', S3KeyPrefix: 'cloudtrail', IsMultiRegionTrail: true, EnableLogFileValidation: true }));
  await sdk.send(new PutEventSelectorsCommand({
    TrailName: 'org-audit',
    AdvancedEventSelectors: [
      { Name: 'Management events', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Management'] }] },
      { Name: 'S3 writes', FieldSelectors: [{ Field: 'eventCategory', Equals: ['Data'] }, { Field: 'resources.type', Equals: ['AWS::S3::Object'] }, { Field: 'readOnly', Equals: ['false'] }] },
    ],
  }));
  await sdk.send(new StartLoggingCommand({ Name: 'org-audit' }));

  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1, locale: 'en-US', timezoneId: 'UTC' });
  const page = await context.newPage();
  const shot = async (name: string) => {
    await page.waitForTimeout(400);
    await page.screenshot({ path: join(out, `console-${name}.png`) });
    console.log(`docs/img/console-${name}.png`);
  };
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('Access key ID', { exact: true }).fill(alice.accessKeyId);
  await page.getByLabel('Secret access key', { exact: true }).fill('••••••••••••');
  await shot('sign-in');
  await page.getByLabel('Secret access key', { exact: true }).fill(alice.secretAccessKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('table a[href^="#/events/"]').first().waitFor();
  await page.evaluate(() => (location.hash = '#/events?attribute=EventSource&value=ec2.amazonaws.com&last=1-day'));
  await page.waitForFunction(() => document.querySelectorAll('table a[href^="#/events/"]').length >= 20);
  await shot('event-history');
  const first = await page.locator('table a[href^="#/events/"]').nth(1).getAttribute('href');
  await page.evaluate((h) => (location.hash = h!), first);
  await page.getByTestId('event-record').waitFor();
  await shot('event');
  await page.evaluate(() => (location.hash = '#/trails'));
  await page.getByRole('link', { name: 'org-audit' }).waitFor();
  await page.getByText('Logging', { exact: true }).first().waitFor();
  await shot('trails');
  await page.evaluate(() => (location.hash = '#/trails/org-audit'));
  await page.getByTestId('trail-selectors').waitFor();
  await shot('trail');
  await page.evaluate(() => (location.hash = '#/trails/create'));
  await page.getByLabel('Trail name').fill('security-audit');
  await page.getByLabel('S3 bucket', { exact: true }).fill('no-such-bucket');
  await page.getByRole('button', { name: 'Advanced event selectors' }).click();
  await page.getByRole('button', { name: 'Add advanced event selector' }).click();
  await page.getByTestId('save-trail').click();
  await page.getByText('S3BucketDoesNotExistException').first().waitFor();
  await page.getByLabel('S3 bucket', { exact: true }).scrollIntoViewIfNeeded();
  await shot('create-trail');
} finally {
  await browser.close();
  await server.stop();
}
