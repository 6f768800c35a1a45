"""A relying party with Authlib (Debian python3-authlib), as docs/relying-parties.md
describes it: discovery, code flow with PKCE S256 and nonce, ID token validation
against the issuer's JWKS, UserInfo, refresh.

Protocol with the test: prints {"authorize": url} on one line, reads the callback
URL on one line, prints the result as JSON on one line.
"""
import json
import sys

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

issuer, client_id, client_secret, redirect_uri = sys.argv[1:5]
meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()

session = OAuth2Session(
    client_id, client_secret,
    scope="openid profile email",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
code_verifier = generate_token(48)
nonce = generate_token(20)
url, state = session.create_authorization_url(meta["authorization_endpoint"], code_verifier=code_verifier, nonce=nonce)
print(json.dumps({"authorize": url}), flush=True)

callback = sys.stdin.readline().strip()
token = session.fetch_token(meta["token_endpoint"], authorization_response=callback, code_verifier=code_verifier, state=state)

keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
claims = jwt.decode(token["id_token"], keys, claims_cls=CodeIDToken,
                    claims_options={"iss": {"essential": True, "value": meta["issuer"]}},
                    claims_params={"nonce": nonce, "client_id": client_id, "access_token": token["access_token"]})
claims.validate(leeway=10)
userinfo = session.get(meta["userinfo_endpoint"], timeout=10).json()
refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token.get("refresh_token")) if token.get("refresh_token") else None
print(json.dumps({
    "id_token": dict(claims),
    "userinfo": userinfo,
    "refreshed": bool(refreshed and refreshed.get("access_token") and refreshed["access_token"] != token["access_token"]),
}), flush=True)
