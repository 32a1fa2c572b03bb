-- GET $BENCH_PATH over and over ("/api/books/?page=1000", a cursor URL's path and query), or with "{n}"
-- in it replaced by a random 1..$BENCH_MAX ("/api/books/{n}/" with BENCH_MAX=100000).
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local path = os.getenv("BENCH_PATH") or "/api/books/"
local max = tonumber(os.getenv("BENCH_MAX") or "")

request = function()
    return path_request(path, max)
end
