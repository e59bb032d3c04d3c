-- wrk script: GET objects/{id}/ for ids drawn at random from a file (one id per line), so the
-- by-id latency covers the whole collection rather than one cached row.
-- Usage: wrk -s bench/byid.lua -H "Authorization: ..." URL/objects/ -- IDS_FILE
local ids = {}
local base = ""

function init(args)
  for line in io.lines(args[1]) do
    ids[#ids + 1] = line
  end
  base = wrk.path
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  wrk.headers["Accept"] = "application/taxii+json;version=2.1"
end

function request()
  return wrk.format("GET", base .. ids[math.random(#ids)] .. "/")
end
