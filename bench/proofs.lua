-- wrk script for the transparency log's proof endpoints.
--   wrk -s bench/proofs.lua URL -- consistency SIZE     GET /log/consistency?from=R&to=SIZE
--   wrk -s bench/proofs.lua URL -- receipt COLL IDS_FILE GET /log/receipt/COLL/ID (random ids)
local mode, size, coll = "", 0, ""
local ids = {}

function init(args)
  mode = args[1]
  if mode == "consistency" then
    size = tonumber(args[2])
  else
    coll = args[2]
    for line in io.lines(args[3]) do
      ids[#ids + 1] = line
    end
  end
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  if mode == "consistency" then
    return wrk.format("GET", "/log/consistency?from=" .. math.random(1, size - 1) .. "&to=" .. size)
  end
  return wrk.format("GET", "/log/receipt/" .. coll .. "/" .. ids[math.random(#ids)])
end
