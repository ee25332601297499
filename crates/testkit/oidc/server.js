// A real OpenID Connect provider for Postern's tests: npm's `oidc-provider` (installed by
// scripts/test.sh into a cache directory, found through NODE_PATH), on 127.0.0.1 only.
//
// Environment: OIDC_PORT (the port), OIDC_REDIRECT_URI (Postern's callback), OIDC_CLIENT_SECRET
// (the `postern` client's secret), OIDC_INTROSPECTION_SECRET (the `dovecot` client's, which
// only introspects), OIDC_ACCESS_TTL (seconds an access token lives).
//
// Accounts: any login name with any password (the provider's own development login and
// consent pages, driven by Chromium in the tests); the account's `sub` is the login name.
// Refresh tokens are issued for `offline_access` and rotated at every use. Revoking a refresh
// token revokes its whole grant (the "revoked grant" of the tests); revoking an access token
// revokes that token only (the "forced 401").
'use strict';

const { pathToFileURL } = require('node:url');

async function main() {
// oidc-provider is an ES module: imported from where NODE_PATH finds it
const { default: Provider } = await import(pathToFileURL(require.resolve('oidc-provider')).href);
const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'postern',
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [process.env.OIDC_REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: 'dovecot',
      client_secret: process.env.OIDC_INTROSPECTION_SECRET,
      redirect_uris: [],
      grant_types: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'offline_access', 'email'],
  claims: { openid: ['sub'], email: ['email'] },
  features: {
    devInteractions: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: () => true },
  ttl: {
    AccessToken: Number(process.env.OIDC_ACCESS_TTL || 3600),
    RefreshToken: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    Session: 3600,
    Interaction: 600,
    AuthorizationCode: 600,
  },
  rotateRefreshToken: true,
  revokeGrantPolicy(ctx) {
    return !(ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken);
  },
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub, email: sub }; } };
  },
  cookies: { keys: ['postern-test-cookie-key'] },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
