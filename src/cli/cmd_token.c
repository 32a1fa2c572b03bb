/*
 * cmd_token.c - `prodata token --role ROLE`: prints a bearer token the server accepts, for the demo, the
 * tests and trying the API by hand. The secret comes from the serve settings (jwt_secret in prodata.conf or
 * PRODATA_JWT_SECRET, or jwt_secret_file), never from this command's own options, and is never printed.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "http/http.h"

#define MAX_LIFETIME_S (366 * 86400)

/* "90", "90s", "15min", "2h", "7d": 1 s to 366 days. */
static bool
parse_lifetime(const char *text, int64_t *seconds, PdError *err)
{
    static const struct
    {
        const char *unit;
        int64_t seconds;
    } units[] = {{"", 1}, {"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}};
    char *end = NULL;
    errno = 0;
    long long value = isdigit((unsigned char)text[0]) ? strtoll(text, &end, 10) : 0;
    for (size_t i = 0; end != NULL && errno == 0 && i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(end, units[i].unit) == 0 && value > 0 && value <= MAX_LIFETIME_S / units[i].seconds)
        {
            *seconds = value * units[i].seconds;
            return true;
        }
    return pd_error_set(
        err, PD_ERR_USAGE,
        "token: --expires \"%s\" is not a duration of 1 s to 366 d, expected e.g. 30min, 1h or 7d", text);
}

bool
cmd_token(PdArena *arena, const CliArgs *args, PdError *err)
{
    PdHttpTokenRequest request = {0};
    const char *expires = "1h";
    cli_has_flag(args, "--role", &request.role);
    cli_has_flag(args, "--sub", &request.subject);
    cli_has_flag(args, "--aud", &request.audience);
    cli_has_flag(args, "--iss", &request.issuer);
    cli_has_flag(args, "--expires", &expires);
    if (request.role == NULL)
        return pd_error_set(err, PD_ERR_USAGE, "token: --role ROLE is required");
    if (!parse_lifetime(expires, &request.lifetime_s, err))
        return false;
    PdServeSettings settings;
    PdSettings loaded;
    char *token = NULL;
    if (!cli_load_settings(arena, args, &pd_settings_serve, &settings, &loaded, err) ||
        !pd_http_token(arena, &settings, &request, (int64_t)time(NULL), &token, err))
        return false;
    printf("%s\n", token);
    return true;
}
