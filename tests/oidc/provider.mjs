// A real OpenID Connect provider for the sign-in browser test (tests/test_browser_signin.py): panva's
// oidc-provider (OpenID Certified), on 127.0.0.1 only, with its built-in development login form (any password)
// and consent granted up front. Configured from the environment by the test:
//   OIDC_PORT, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, OIDC_REDIRECT_URI, OIDC_ACCOUNTS (JSON: login -> claims)
// It prints "listening <issuer>" once it accepts connections, and stops on SIGTERM.
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS || '{}');
const redirect = process.env.OIDC_REDIRECT_URI;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: [redirect],
      post_logout_redirect_uris: [new URL('/', redirect).href],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  // the login typed into the form is the account id; an id not listed is an unknown account
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'groups'],
  },
  // no consent screen: the test signs in, it does not review scopes
  async loadExistingGrant(ctx) {
    const existing = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (existing) return ctx.oidc.provider.Grant.find(existing);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
    await grant.save();
    return grant;
  },
  // the ID token carries the scopes' claims (email, groups), as Google's, Entra's and Okta's do: Streamlit reads
  // st.user from the ID token
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['replyboard-test-provider-cookie-key'] },
});

const server = provider.listen(port, '127.0.0.1', () => console.log(`listening ${issuer}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
