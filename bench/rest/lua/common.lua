-- bench/rest's wrk scripts share this (loaded with dofile). Each wrk thread seeds its own fixed random
-- sequence, so every run of a script sends the same requests in the same order. A path prefix in the URL
-- given to wrk (http://host:port/prefix) is kept.
prefix = wrk.path:gsub("%?.*$", ""):gsub("/+$", "")

local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("thread_number", threads)
end

function init(args)
    math.randomseed(20261129 + (thread_number or 0))
end

-- One new book as the anchors' create load sends it: random author 1..1000, random price, mostly in stock.
local sent = 0
local json = { ["Content-Type"] = "application/json" }
function create_request()
    sent = sent + 1
    local cents = math.random(100, 9999)
    local body = string.format('{"title":"Bench Book %d-%d","author":%d,"price":"%d.%02d","in_stock":%s}',
        thread_number or 0, sent, math.random(1, 1000), math.floor(cents / 100), cents % 100,
        (math.random() < 0.85) and "true" or "false")
    return wrk.format("POST", prefix .. "/api/books/", json, body)
end

-- BENCH_PATH with "{n}" replaced by a random number in 1..BENCH_MAX (absent: the path as it is).
function path_request(path, max)
    if max then
        path = path:gsub("{n}", tostring(math.random(1, max)))
    end
    return wrk.format("GET", prefix .. path)
end
