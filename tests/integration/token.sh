#!/bin/bash
# token.sh - `prodata token`: a signed HS256 token for a role from the serve settings' secret (jwt_secret from
# the environment or prodata.conf, or jwt_secret_file, which wins), with sub, aud, iss and a lifetime; the
# secret never printed and refused on the command line; a missing or short secret, a missing role and a bad
# lifetime are usage or input errors. The server's side of these tokens is serve_auth.sh's.
source tests/lib/tap.sh
tap_plan 20
tap_workdir
cd "$TAP_WORKDIR"

SECRET=token-test-secret-that-is-long-enough-1234
# The claims (second part) of a token, as compact JSON with sorted keys.
claims() {
    local part
    part=$(cut -d. -f2 <<<"$1" | tr '_-' '/+')
    while [ $(( ${#part} % 4 )) -ne 0 ]; do part="$part="; done
    base64 -d <<<"$part" | jq -cS .
}
# Whether HMAC-SHA256 of the first two parts under $2 is the third (openssl, independent of prodata).
signed_with() {
    local input signature
    input=$(cut -d. -f1,2 <<<"$1")
    signature=$(printf '%s' "$input" | openssl dgst -sha256 -hmac "$2" -binary | base64 | tr '+/' '-_' | tr -d '=\n')
    [ "$signature" = "$(cut -d. -f3 <<<"$1")" ]
}

run_cmd "$PRODATA" --help
expect_out "--help lists token" '^  token '
run_cmd "$PRODATA" token --help
expect_rc "token --help exits 0" 0
expect_out "token --help names --role" '--role ROLE'

run_cmd env PRODATA_JWT_SECRET="$SECRET" "$PRODATA" token --role editor --sub alice --expires 15min --aud api --iss me
expect_rc "a token is printed" 0
TOKEN=$OUT
expect_eq "three base64url parts" "$(grep -cE '^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$' <<<"$TOKEN")" 1
expect_eq "header says HS256" "$(cut -d. -f1 <<<"$TOKEN" | base64 -d 2>/dev/null | jq -r .alg)" HS256
CLAIMS=$(claims "$TOKEN")
expect_eq "claims: role, sub, aud, iss" "$(jq -c '[.role, .sub, .aud, .iss]' <<<"$CLAIMS")" '["editor","alice","api","me"]'
expect_eq "lifetime 15 min" "$(jq '.exp - .iat' <<<"$CLAIMS")" 900
NOW=$(date +%s)
expect_eq "issued now" "$(jq --argjson now "$NOW" '(.iat - $now) | fabs < 5' <<<"$CLAIMS")" true
check "signed with the secret (openssl agrees)" signed_with "$TOKEN" "$SECRET"
expect_no_out "the secret is not printed" "$SECRET"

# settings file: role claim path, audience and issuer defaults; the secret file wins over jwt_secret
printf '%s\n' "file-secret-that-is-also-long-enough-5678" >secret.txt
cat >prodata.conf <<CONF
jwt_secret = $SECRET
jwt_secret_file = secret.txt
jwt_role_claim = app.role
jwt_audience = books-api
CONF
run_cmd "$PRODATA" token --role web_user
expect_rc "token from prodata.conf" 0
TOKEN=$OUT
expect_eq "role at the dotted claim path, aud from the settings, default lifetime 1 h" \
    "$(claims "$TOKEN" | jq -c '[.app.role, .aud, .exp - .iat, has("sub")]')" '["web_user","books-api",3600,false]'
check "signed with the file's secret, its line end dropped" signed_with "$TOKEN" "file-secret-that-is-also-long-enough-5678"
rm prodata.conf

run_cmd "$PRODATA" token --role editor --jwt-secret "$SECRET"
expect_rc "a secret on the command line is refused" 2
expect_no_out "and not echoed" "$SECRET"
run_cmd env -u PRODATA_JWT_SECRET "$PRODATA" token --role editor
expect_out "no secret: said so" 'no JWT secret to sign with'
run_cmd env PRODATA_JWT_SECRET=short "$PRODATA" token --role editor
expect_out "a short secret is refused" 'shorter than 32 bytes'
run_cmd env PRODATA_JWT_SECRET="$SECRET" "$PRODATA" token
expect_rc "no role: usage error" 2
run_cmd env PRODATA_JWT_SECRET="$SECRET" "$PRODATA" token --role editor --expires 2weeks
expect_out "a bad lifetime is named" '--expires "2weeks" is not a duration'

tap_done
