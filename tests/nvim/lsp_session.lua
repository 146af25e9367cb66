-- One editing session in headless Neovim against `mgdsl lsp`, run by tests/test_nvim.py:
--
--   nvim --clean --headless -l tests/nvim/lsp_session.lua DIR ENCODING OUT.json SERVER-COMMAND-AS-JSON
--
-- It offers only ENCODING as the position encoding, opens DIR/base.mg and DIR/member.mg, asks for
-- hover, definition and completion at places after `×` and after characters outside the basic
-- plane, then edits base.mg (an error after an emoji in a string, on a line below a comment that
-- holds U+2028, a form feed and U+0085) and reads the diagnostics back. Everything Neovim reports
-- is written to OUT.json (lines 0-based, columns as byte offsets into the buffer line, as Neovim
-- keeps them); the Python test checks it. Every wait is bounded.
local dir, encoding, out_path, server_cmd = arg[1], arg[2], arg[3], vim.json.decode(arg[4])
local TIMEOUT = 30000
local out = { encoding_offered = encoding, nvim = tostring(vim.version()) }

local function write_out()
  local f = assert(io.open(out_path, 'w'))
  f:write(vim.json.encode(out))
  f:close()
end

local published = {}          -- uri -> how many publishDiagnostics arrived
local function on_publish(err, result, ctx)
  vim.lsp.diagnostic.on_publish_diagnostics(err, result, ctx)
  published[result.uri] = (published[result.uri] or 0) + 1
end

local function wait(what, cond)
  if not vim.wait(TIMEOUT, cond, 20) then
    error('timed out waiting for ' .. what)
  end
end

-- the 0-based row and byte column of the `offset`-th byte after the first `needle` in a buffer
local function find(buf, needle, offset)
  for row, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local s = line:find(needle, 1, true)
    if s then
      return row - 1, s - 1 + (offset or 0)
    end
  end
  error('not found: ' .. needle)
end

local function request(client, buf, method, row, col, extra)
  vim.api.nvim_set_current_buf(buf)
  vim.api.nvim_win_set_cursor(0, { row + 1, col })
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  for k, v in pairs(extra or {}) do
    params[k] = v
  end
  local reply = client:request_sync(method, params, TIMEOUT, buf)
  if not reply then
    error(method .. ': no reply')
  end
  if reply.err then
    error(method .. ': ' .. vim.inspect(reply.err))
  end
  return reply.result
end

local function diagnostics(buf)
  local got = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(got, { lnum = d.lnum, col = d.col, end_lnum = d.end_lnum, end_col = d.end_col, code = d.code,
                        message = d.message, line = vim.api.nvim_buf_get_lines(buf, d.lnum, d.lnum + 1, false)[1] })
  end
  return got
end

local function definition_items(client, locations)
  if locations == nil then
    return {}
  end
  if locations.uri or locations.targetUri then
    locations = { locations }
  end
  local items = {}
  for _, item in ipairs(vim.lsp.util.locations_to_items(locations, client.offset_encoding)) do
    table.insert(items, { filename = item.filename, lnum = item.lnum, col = item.col, text = item.text })
  end
  return items
end

local function session()
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/base.mg'))
  local base = vim.api.nvim_get_current_buf()
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.general.positionEncodings = { encoding }
  local id = assert(vim.lsp.start({
    name = 'mgdsl', cmd = server_cmd, root_dir = dir, capabilities = caps,
    handlers = { ['textDocument/publishDiagnostics'] = on_publish },
  }, { bufnr = base }))
  local client = assert(vim.lsp.get_client_by_id(id))
  local base_uri = vim.uri_from_bufnr(base)
  wait('the first diagnostics of base.mg', function() return published[base_uri] ~= nil end)
  out.offset_encoding = client.offset_encoding
  out.server_position_encoding = client.server_capabilities.positionEncoding
  out.base_diagnostics = diagnostics(base)

  -- the last letter of `resmg` in `pool; n × resmg  # 🌍 ...`
  local row, col = find(base, 'resmg  #', #'resmg' - 1)
  local hover = request(client, base, 'textDocument/hover', row, col)
  out.hover = hover and hover.contents.value or vim.NIL
  out.definition = definition_items(client, request(client, base, 'textDocument/definition', row, col))
  -- right after `resmg`: a layer type being typed
  local items = request(client, base, 'textDocument/completion', row, col + 1)
  out.completion = vim.tbl_map(function(i) return i.label end, items.items or items)
  -- hover on the network line (a name with an emoji)
  row, col = find(base, 'Base', 0)
  hover = request(client, base, 'textDocument/hover', row, col)
  out.network_hover = hover and hover.contents.value or vim.NIL

  -- member.mg: `from "base.mg"` after the emoji in the network's name
  vim.cmd.edit(vim.fn.fnameescape(dir .. '/member.mg'))
  local member = vim.api.nvim_get_current_buf()
  assert(vim.lsp.buf_attach_client(member, id))
  local member_uri = vim.uri_from_bufnr(member)
  wait('the first diagnostics of member.mg', function() return published[member_uri] ~= nil end)
  out.member_diagnostics = diagnostics(member)
  row, col = find(member, 'base.mg"', #'base.m')
  out.from_definition = definition_items(client, request(client, member, 'textDocument/definition', row, col))

  -- edit base.mg as a person would: a comment with odd characters, then a mistake after an emoji
  local seen_base, seen_member = published[base_uri], published[member_uri]
  local last = vim.api.nvim_buf_line_count(base)
  vim.api.nvim_buf_set_lines(base, last - 1, last, false,
    { '# odd: \u{2028} \x0c \u{85} end', 'fc 10 bias="🚀" kernal=3  # 🚀' })
  wait('diagnostics of the edited base.mg', function()
    return published[base_uri] > seen_base and #vim.diagnostic.get(base) > 0
  end)
  out.edited_diagnostics = diagnostics(base)
  -- member.mg reads the unsaved base.mg: its `from` line shows the error
  wait('diagnostics of member.mg after the edit', function()
    return published[member_uri] > seen_member and #vim.diagnostic.get(member) > 0
  end)
  out.member_after_edit = diagnostics(member)

  client:stop(true)
  wait('the server to stop', function() return client:is_stopped() end)
end

local ok, err = xpcall(session, debug.traceback)
if not ok then
  out.error = tostring(err)
end
write_out()
