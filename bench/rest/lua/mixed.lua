-- The mixed load of the memory run: of every 100 requests, 60 get a random book, 27 a random list page
-- (with its count), 8 the deep cursor page ($BENCH_CURSOR_PATH, or page 1,000 without one) and 5 create a
-- book. The filtered list stays out: at ~30 ms of database time each, a few percent of it would turn the
-- run into a filter benchmark.
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "common.lua")

local cursor_path = os.getenv("BENCH_CURSOR_PATH")
if cursor_path == nil or cursor_path == "" then
    cursor_path = "/api/books/?page=1000"
end

request = function()
    local pick = math.random(1, 100)
    if pick <= 60 then
        return path_request("/api/books/{n}/", 100000)
    elseif pick <= 87 then
        return path_request("/api/books/?page={n}", 200)
    elseif pick <= 95 then
        return path_request(cursor_path)
    end
    return create_request()
end
