/** The defaults that turn an HTTP call into a record: eventName from the route, redaction. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HIDDEN, defaultEventName, redactKeys, redactSecrets } from './index.js';

test('defaultEventName: verb from the method, noun from the last static segment', () => {
  const cases: [string, string, string][] = [
    ['GET', '/orders', 'ListOrders'],
    ['GET', '/orders/:id', 'GetOrder'],
    ['POST', '/orders', 'CreateOrder'],
    ['PUT', '/orders/:id', 'PutOrder'],
    ['PATCH', '/orders/:id', 'UpdateOrder'],
    ['DELETE', '/orders/:id', 'DeleteOrder'],
    ['DELETE', '/orders', 'DeleteOrders'],
    ['HEAD', '/orders/:id', 'HeadOrder'],
    ['POST', '/orders/:id/cancel', 'CancelOrder'],
    ['GET', '/users/:userId/orders', 'ListOrders'],
    ['GET', '/users/:userId/order-items/:itemId', 'GetOrderItem'],
    ['GET', '/policies/:id', 'GetPolicy'],
    ['GET', '/addresses/:id', 'GetAddress'],
    ['GET', '/status', 'GetStatus'],
    ['GET', '/health', 'GetHealth'],
    ['GET', '/', 'GetRoot'],
    ['GET', '/files/*', 'GetFile'],
    ['get', '/v1/orders/{:id}', 'GetOrder'],
    ['PURGE', '/caches/:id', 'PurgeCache'],
    ['GET', '/boxes/:id', 'GetBox'],
    ['GET', '/matches/:id', 'GetMatch'],
  ];
  for (const [method, route, want] of cases) assert.equal(defaultEventName(method, route), want, `${method} ${route}`);
});

test('redactSecrets hides password, secret, token and authorization keys at any depth, case-insensitively', () => {
  const input = {
    orderId: 'o-1',
    Password: 'p',
    nested: { clientSecret: 's', list: [{ accessToken: 't', keep: 1 }], Authorization: 'Bearer x' },
    tokens: ['a', 'b'],
  };
  assert.deepEqual(redactSecrets(input), {
    orderId: 'o-1',
    Password: HIDDEN,
    nested: { clientSecret: HIDDEN, list: [{ accessToken: HIDDEN, keep: 1 }], Authorization: HIDDEN },
    tokens: HIDDEN,
  });
  assert.equal(input.Password, 'p', 'the input is not changed');
  assert.equal(HIDDEN, 'HIDDEN_DUE_TO_SECURITY_REASONS');
});

test('redactKeys takes any pattern; non-objects pass through', () => {
  assert.deepEqual(redactKeys({ apiKey: 'k', name: 'n' }, /apikey/i), { apiKey: HIDDEN, name: 'n' });
  assert.equal(redactKeys('text', /x/), 'text');
  assert.equal(redactKeys(null, /x/), null);
});
