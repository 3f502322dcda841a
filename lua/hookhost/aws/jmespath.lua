--- hookhost.aws.jmespath: the part of JMESPath the service models' paginators and waiters use.
--
--   jmespath.search(expression, value) -> result (nil when nothing matches)
--   jmespath.compile(expression) -> function(value) -> result   (raises on a syntax error)
--
-- Supported: fields (a.b), indexes (a[0], a[-1]), flatten projections (a[].b), list and object
-- wildcards (a[*].b, a.*.b), filters (a[?b == `1` && !c]), comparisons (== != < <= > >=),
-- || && ! and parentheses, literals (`json`) and raw strings ('text'), @, and length().
-- That is every expression of botocore's waiters-2.json and paginators-1.json files;
-- tests/models/test_paginate_wait.py checks them against Python's jmespath.
--
-- Lua tables stand for both JSON arrays and objects: a sequence is an array, a table with
-- string keys an object, and an empty table is either (empty, so false, as both are).

local cjson = require("cjson.safe")

local M = {}

---- lexer ---------------------------------------------------------------------------------------

local function lex(s)
  local toks, i, n = {}, 1, #s
  local function push(t, v)
    toks[#toks + 1] = {t = t, v = v}
  end
  while i <= n do
    local c = s:sub(i, i)
    local two = s:sub(i, i + 1)
    if c:match("%s") then
      i = i + 1
    elseif c:match("[%a_]") then
      local id = s:match("^[%w_]+", i)
      push("id", id)
      i = i + #id
    elseif c:match("[%d%-]") then
      local num = s:match("^%-?%d+", i)
      if not num then
        error("jmespath: unexpected '-' at " .. i, 0)
      end
      push("num", tonumber(num))
      i = i + #num
    elseif c == "`" then
      local j = s:find("`", i + 1, true)
      if not j then
        error("jmespath: unterminated literal", 0)
      end
      local v, err = cjson.decode(s:sub(i + 1, j - 1))
      if v == nil then
        error("jmespath: bad literal: " .. tostring(err), 0)
      end
      push("lit", v)
      i = j + 1
    elseif c == "'" then
      local j = s:find("'", i + 1, true)
      if not j then
        error("jmespath: unterminated raw string", 0)
      end
      push("lit", s:sub(i + 1, j - 1))
      i = j + 1
    elseif c == '"' then
      local j = s:find('"', i + 1, true)
      if not j then
        error("jmespath: unterminated identifier", 0)
      end
      push("id", s:sub(i + 1, j - 1))
      i = j + 1
    elseif two == "||" or two == "&&" or two == "==" or two == "!=" or two == "<=" or two == ">="
        or two == "[]" or two == "[?" then
      push(two)
      i = i + 2
    elseif c:match("[%.%[%]%(%),%*@!<>]") then
      push(c)
      i = i + 1
    else
      error("jmespath: unexpected '" .. c .. "' at " .. i, 0)
    end
  end
  push("eof")
  return toks
end

---- parser: nodes are {op, ...} ------------------------------------------------------------------

local P = {}
P.__index = P

function P:peek(k)
  return self.toks[self.i + (k or 0)].t
end

function P:take(t)
  local tok = self.toks[self.i]
  if t and tok.t ~= t then
    error("jmespath: expected '" .. t .. "', found '" .. tostring(tok.v or tok.t) .. "'", 0)
  end
  self.i = self.i + 1
  return tok
end

local CURRENT = {"current"}

-- The right-hand side of a projection: field, index and nested projections, up to a flatten
-- ([]), an operator or the end.
function P:projection_rhs()
  return self:postfix(CURRENT, true)
end

function P:postfix(left, in_projection)
  while true do
    local t = self:peek()
    if t == "." then
      self:take()
      if self:peek() == "*" then
        self:take()
        return {"values", left, self:projection_rhs()}
      end
      left = {"sub", left, {"field", self:take("id").v}}
    elseif t == "[" then
      self:take()
      if self:peek() == "*" then
        self:take()
        self:take("]")
        return {"project", left, self:projection_rhs()}
      end
      local idx = self:take("num").v
      self:take("]")
      left = {"index", left, idx}
    elseif t == "[]" then
      if in_projection then
        return left
      end
      self:take()
      left = {"project", {"flatten", left}, self:projection_rhs()}
    elseif t == "[?" then
      self:take()
      local cond = self:expr()
      self:take("]")
      return {"filter", left, cond, self:projection_rhs()}
    else
      return left
    end
  end
end

function P:primary()
  local tok = self:take()
  local t = tok.t
  if t == "id" then
    if self:peek() == "(" then
      self:take()
      local args = {}
      if self:peek() ~= ")" then
        args[#args + 1] = self:expr()
        while self:peek() == "," do
          self:take()
          args[#args + 1] = self:expr()
        end
      end
      self:take(")")
      return {"call", tok.v, args}
    end
    return {"field", tok.v}
  elseif t == "lit" then
    return {"lit", tok.v}
  elseif t == "@" then
    return CURRENT
  elseif t == "(" then
    local e = self:expr()
    self:take(")")
    return e
  elseif t == "!" then
    return {"not", self:cmp()}
  elseif t == "[?" then
    local cond = self:expr()
    self:take("]")
    return {"filter", CURRENT, cond, self:projection_rhs()}
  elseif t == "[]" then
    return {"project", {"flatten", CURRENT}, self:projection_rhs()}
  elseif t == "*" then
    return {"values", CURRENT, self:projection_rhs()}
  end
  error("jmespath: unexpected '" .. tostring(tok.v or t) .. "'", 0)
end

local CMP = {["=="] = true, ["!="] = true, ["<"] = true, ["<="] = true, [">"] = true, [">="] = true}

function P:cmp()
  local left = self:postfix(self:primary())
  if CMP[self:peek()] then
    local op = self:take().t
    return {"cmp", op, left, self:postfix(self:primary())}
  end
  return left
end

function P:andexpr()
  local left = self:cmp()
  while self:peek() == "&&" do
    self:take()
    left = {"and", left, self:cmp()}
  end
  return left
end

function P:expr()
  local left = self:andexpr()
  while self:peek() == "||" do
    self:take()
    left = {"or", left, self:andexpr()}
  end
  return left
end

---- evaluation ----------------------------------------------------------------------------------

local function is_list(v)
  return type(v) == "table" and (v[1] ~= nil or next(v) == nil)
end

local function is_object(v)
  return type(v) == "table" and (next(v) == nil or v[1] == nil)
end

local function truthy(v)
  if v == nil or v == false or v == cjson.null then
    return false
  end
  if type(v) == "table" then
    return next(v) ~= nil
  end
  if v == "" then
    return false
  end
  return true
end

local function equal(a, b)
  if type(a) ~= type(b) then
    return false
  end
  if type(a) ~= "table" then
    return a == b
  end
  for k, v in pairs(a) do
    if not equal(v, b[k]) then
      return false
    end
  end
  for k in pairs(b) do
    if a[k] == nil then
      return false
    end
  end
  return true
end

local eval

local FUNCS = {
  length = function(args)
    local v = args[1]
    if type(v) == "string" then
      return utf8.len(v) or #v
    elseif type(v) == "table" then
      local n = 0
      for _ in pairs(v) do
        n = n + 1
      end
      return n
    end
    error("jmespath: length() of a " .. type(v), 0)
  end,
}

local function project(items, rhs)
  local out = {}
  for _, e in ipairs(items) do
    local r = eval(rhs, e)
    if r ~= nil and r ~= cjson.null then
      out[#out + 1] = r
    end
  end
  return out
end

function eval(node, v)
  local op = node[1]
  if op == "current" then
    return v
  elseif op == "field" then
    if type(v) == "table" and v[1] == nil then
      return v[node[2]]
    end
    return nil
  elseif op == "sub" then
    local l = eval(node[2], v)
    if l == nil then
      return nil
    end
    return eval(node[3], l)
  elseif op == "index" then
    local l = eval(node[2], v)
    if not is_list(l) then
      return nil
    end
    local i = node[3]
    if i < 0 then
      i = #l + i
    end
    return l[i + 1]
  elseif op == "flatten" then
    local l = eval(node[2], v)
    if not is_list(l) then
      return nil
    end
    local out = {}
    for _, e in ipairs(l) do
      if is_list(e) and type(e) == "table" then
        for _, x in ipairs(e) do
          out[#out + 1] = x
        end
      else
        out[#out + 1] = e
      end
    end
    return out
  elseif op == "project" then
    local l = eval(node[2], v)
    if not is_list(l) then
      return nil
    end
    return project(l, node[3])
  elseif op == "values" then
    local o = eval(node[2], v)
    if not is_object(o) then
      return nil
    end
    local keys = {}
    for k in pairs(o) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    local items = {}
    for i, k in ipairs(keys) do
      items[i] = o[k]
    end
    return project(items, node[3])
  elseif op == "filter" then
    local l = eval(node[2], v)
    if not is_list(l) then
      return nil
    end
    local kept = {}
    for _, e in ipairs(l) do
      if truthy(eval(node[3], e)) then
        kept[#kept + 1] = e
      end
    end
    return project(kept, node[4])
  elseif op == "lit" then
    return node[2]
  elseif op == "not" then
    return not truthy(eval(node[2], v))
  elseif op == "and" then
    local l = eval(node[2], v)
    if not truthy(l) then
      return l
    end
    return eval(node[3], v)
  elseif op == "or" then
    local l = eval(node[2], v)
    if truthy(l) then
      return l
    end
    return eval(node[3], v)
  elseif op == "cmp" then
    local a, b = eval(node[3], v), eval(node[4], v)
    local c = node[2]
    if c == "==" then
      return equal(a, b)
    elseif c == "!=" then
      return not equal(a, b)
    end
    if type(a) ~= "number" or type(b) ~= "number" then
      return nil
    end
    if c == "<" then
      return a < b
    elseif c == "<=" then
      return a <= b
    elseif c == ">" then
      return a > b
    end
    return a >= b
  elseif op == "call" then
    local f = FUNCS[node[2]]
    if not f then
      error("jmespath: unknown function " .. node[2] .. "()", 0)
    end
    local args = {}
    for i, a in ipairs(node[3]) do
      args[i] = eval(a, v)
    end
    return f(args)
  end
  error("jmespath: cannot evaluate " .. tostring(op), 0)
end

local cache = {}

function M.compile(expression)
  local f = cache[expression]
  if f then
    return f
  end
  local p = setmetatable({toks = lex(expression), i = 1}, P)
  local ast = p:expr()
  p:take("eof")
  f = function(value)
    return eval(ast, value)
  end
  cache[expression] = f
  return f
end

function M.search(expression, value)
  return M.compile(expression)(value)
end

return M
