// The shipped security rules (firestore_verify/firestore.rules) on the Firestore
// emulator, with @firebase/rules-unit-testing: every collection x principal x
// operation. Run by tests/test_rules.py, which passes:
//
//   FIRESTORE_EMULATOR_HOST  the emulator (HOST:PORT)
//   FV_PROJECT               a fresh demo-* project id
//   FV_RULES_PATH            the rules file to load
//   FV_RULES_SPEC            JSON {"roles": {role: [permission, ...]},
//                                  "collections": [root collection, ...]}
//                            from firestore_verify.permissions.ROLE_PERMISSIONS
//                            and firestore_verify.browser.COLLECTIONS
//
// Expected access is derived from the permission table, never written per role.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  assertFails,
  assertSucceeds,
  initializeTestEnvironment,
} from '@firebase/rules-unit-testing';
import { setLogLevel } from 'firebase/firestore';

// Denied writes are the point here: keep the SDK from logging each one.
setLogLevel('silent');

const required = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through tests/test_rules.py`);
  return value;
};

const SPEC = JSON.parse(required('FV_RULES_SPEC'));
const EMULATOR = required('FIRESTORE_EMULATOR_HOST');
const PROJECT = required('FV_PROJECT');
const RULES = readFileSync(required('FV_RULES_PATH'), 'utf8');

// One case per kind of document of the data contract. `permission` is what a
// client needs to read it (null: no client may); `list` is how a client lists it
// (a function adding the filters the rules require), or false when only gets are
// meant to work.
const CASES = [
  { name: 'owners', doc: 'owners/42', permission: 'groups:read',
    data: { username: 'alice', settings: {} } },
  { name: 'protected_groups', doc: 'protected_groups/-1001', permission: 'groups:read',
    data: { owner_id: 42, title: 'Group', enabled: true, enforced_channels: [] } },
  { name: 'enforced_channels', doc: 'enforced_channels/-2001', permission: 'channels:read',
    data: { title: 'News', linked_groups: [-1001] } },
  { name: 'verifications', doc: 'verifications/e1', permission: 'logs:read',
    data: { user_id: 7, group_id: -1001, status: 'success', latency_ms: 12 } },
  { name: 'admin_users', doc: 'admin_users/someone-else', permission: 'admins:manage',
    data: { email: 'x@example.com', role: 'viewer', is_active: true } },
  { name: 'admin_audit_log', doc: 'admin_audit_log/a1', permission: 'audit:read',
    data: { actor_uid: 'owner', action: 'config.set', resource_type: 'config' } },
  { name: 'admin_config', doc: 'admin_config/mode', permission: 'config:read',
    data: { value: 'strict', is_sensitive: false },
    list: (q) => q.where('is_sensitive', '==', false) },
  { name: 'admin_config (sensitive)', doc: 'admin_config/bot_token', permission: null,
    data: { value: '123:secret', is_sensitive: true } },
  { name: '_metadata', doc: '_metadata/stats', permission: 'dashboard:read', list: false,
    data: { total_groups: 1, total_verifications: 2, shards: 2 } },
  { name: '_metadata/stats/shards', doc: '_metadata/stats/shards/1',
    permission: 'dashboard:read', data: { total_verifications: 1 } },
  { name: 'rollups_daily', doc: 'rollups_daily/2024-05-01', permission: 'analytics:read',
    data: { day: '2024-05-01', total: 2, success: 2 } },
  { name: 'rollups_group_daily', doc: 'rollups_group_daily/-1001_2024-05-01',
    permission: 'analytics:read', data: { group_id: -1001, day: '2024-05-01', total: 2 } },
  { name: 'verification_users', doc: 'verification_users/7', permission: null,
    data: { first_day: '2024-05-01', days: ['2024-05-01'] } },
  { name: 'not in the contract', doc: 'other_app/x', permission: null, data: { a: 1 } },
  { name: 'prefixed (staging_)', doc: 'staging_protected_groups/-1001', permission: null,
    data: { title: 'Staging' } },
];

// Who asks. `adminDoc` is their admin_users document (none: not an admin);
// `claims` go into their ID token.
const PRINCIPALS = [
  { name: 'owner', uid: 'owner', role: 'owner',
    adminDoc: { role: 'owner', is_active: true }, claims: { role: 'owner' } },
  { name: 'admin', uid: 'admin', role: 'admin',
    adminDoc: { role: 'admin', is_active: true }, claims: { role: 'admin' } },
  { name: 'viewer', uid: 'viewer', role: 'viewer',
    adminDoc: { role: 'viewer', is_active: true }, claims: { role: 'viewer' } },
  // The document decides: a stale `owner` claim on a viewer grants a viewer's reads.
  { name: 'viewer with a stale owner claim', uid: 'demoted', role: 'viewer',
    adminDoc: { role: 'viewer', is_active: true }, claims: { role: 'owner' } },
  { name: 'inactive owner', uid: 'inactive', role: null,
    adminDoc: { role: 'owner', is_active: false }, claims: { role: 'owner' } },
  { name: 'unknown role', uid: 'odd', role: null,
    adminDoc: { role: 'superuser', is_active: true }, claims: {} },
  { name: 'signed-in non-admin', uid: 'stranger', role: null, adminDoc: null, claims: {} },
  { name: 'non-admin with an owner claim', uid: 'forger', role: null, adminDoc: null,
    claims: { role: 'owner' } },
  { name: 'unauthenticated', uid: null, role: null, adminDoc: null, claims: {} },
];

const mayRead = (principal, permission) =>
  permission !== null && principal.role !== null
  && (SPEC.roles[principal.role] ?? []).includes(permission);

const collectionOf = (path) => path.split('/').slice(0, -1).join('/');

let env;

before(async () => {
  const colon = EMULATOR.lastIndexOf(':');
  env = await initializeTestEnvironment({
    projectId: PROJECT,
    firestore: {
      host: EMULATOR.slice(0, colon),
      port: Number(EMULATOR.slice(colon + 1)),
      rules: RULES,
    },
  });
  await env.withSecurityRulesDisabled(async (context) => {
    const db = context.firestore();
    for (const c of CASES) await db.doc(c.doc).set(c.data);
    for (const p of PRINCIPALS) {
      if (p.adminDoc) await db.doc(`admin_users/${p.uid}`).set({ email: `${p.uid}@example.com`, ...p.adminDoc });
    }
  });
});

after(async () => {
  await env?.cleanup();
});

test('every collection of the data contract has a case', () => {
  const covered = new Set(CASES.map((c) => c.doc.split('/')[0]));
  for (const name of SPEC.collections) assert.ok(covered.has(name), `no rules case for ${name}`);
  for (const role of ['owner', 'admin', 'viewer']) assert.ok(SPEC.roles[role], role);
});

const db = (principal) => (principal.uid === null
  ? env.unauthenticatedContext()
  : env.authenticatedContext(principal.uid, principal.claims)).firestore();

for (const principal of PRINCIPALS) {
  describe(principal.name, () => {
    for (const c of CASES) {
      const allowed = mayRead(principal, c.permission);
      test(`${c.name}: ${allowed ? 'reads' : 'cannot read'}, cannot write`, async () => {
        const store = db(principal);
        const read = allowed ? assertSucceeds : assertFails;
        await read(store.doc(c.doc).get());
        if (c.list !== false) {
          const query = store.collection(collectionOf(c.doc));
          await read((c.list ? c.list(query) : query).get());
        } else {
          await assertFails(store.collection(collectionOf(c.doc)).get());
        }
        await assertFails(store.collection(collectionOf(c.doc)).doc('new-doc').set(c.data));
        await assertFails(store.doc(c.doc).set(c.data));
        await assertFails(store.doc(c.doc).update({ touched: true }));
        await assertFails(store.doc(c.doc).delete());
      });
    }

    const isAdmin = principal.role !== null;
    test(`own admin_users document: ${isAdmin ? 'gets it' : 'cannot'}, cannot change it`,
      async () => {
        const store = db(principal);
        const own = store.doc(`admin_users/${principal.uid ?? 'nobody'}`);
        await (isAdmin ? assertSucceeds : assertFails)(own.get());
        await assertFails(own.set({ role: 'owner', is_active: true }));
        await assertFails(own.update({ role: 'owner' }));
        await assertFails(own.delete());
      });

    test('an unfiltered admin_config listing is denied (a sensitive entry exists)', async () => {
      await assertFails(db(principal).collection('admin_config').get());
    });
  });
}
