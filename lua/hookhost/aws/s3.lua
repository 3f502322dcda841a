--- hookhost.aws.s3: what botocore's S3 handlers and endpoint rules add around the rest-xml
-- serializer, for aws.client("s3"): bucket names checked, and where the bucket goes.
--
--   s3.check_bucket(name) -> nil | message      botocore's validate_bucket_name
--   s3.addressing(op, params, path, style [, endpoint_url]) -> host_prefix | nil, path
--       style "auto" (default), "virtual" or "path" (botocore's Config(s3={"addressing_style"})).
--       Virtual-hosted ("https://bucket.s3.eu-west-1.amazonaws.com/key") when the operation's
--       URI starts with the bucket, the bucket can be a host label (botocore's
--       isVirtualHostableS3Bucket without subdomains: 3..63 lower-case letters, digits and '-',
--       not starting or ending with '-', not an IPv4 address) and either no endpoint variable is
--       set (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL) or style is "virtual" and the endpoint's host
--       is a name, not an IP address (then, on a plain-http endpoint, a bucket with dots whose
--       every label could be one is virtual-hosted too, as botocore does). Path style
--       ("https://s3.eu-west-1.amazonaws.com/bucket/key") otherwise: a bucket with dots or
--       capitals, an emulator's endpoint, style "path".
--   s3.endpoint_url() -> the endpoint variable's value S3 calls use, or nil (the default)
--   s3.before(op, params) -> auto: botocore's before-parameter-build handlers, on the
--       parameters' copy: SSE-C keys base64-encoded with their MD5 (when no MD5 is given),
--       CopySource percent-encoded (a string, or {Bucket, Key, VersionId?}),
--       EncodingType "url" on ListObjects, ListObjectsV2 and ListObjectVersions when the caller
--       gave none (auto is then true)
--   s3.after(op, result, auto): botocore's after-call handlers: the keys, prefixes and markers
--       of a list answer that EncodingType "url" encoded are decoded again when auto

local M = {}

M.STYLES = {auto = true, virtual = true, path = true}

-- botocore's VALID_BUCKET regex: ^[a-zA-Z0-9.\-_]{1,255}$ (access point and outpost ARNs are
-- its other choice; hookhost does not resolve those).
function M.check_bucket(b)
  if type(b) ~= "string" then
    return nil -- the validator reports the type
  end
  if #b >= 1 and #b <= 255 and not b:find("[^%w%.%-_]") then
    return nil
  end
  if b:sub(1, 4) == "arn:" then
    return string.format('Invalid bucket name "%s": access point and outpost ARNs are not '
                         .. "supported by hookhost; give the bucket's name", b)
  end
  return string.format('Invalid bucket name "%s": Bucket name must match the regex '
                       .. '"^[a-zA-Z0-9.\\-_]{1,255}$"', b)
end

local function ipv4(s)
  local a, b, c, d = s:match("^(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)%.(%d%d?%d?)$")
  return a ~= nil and b ~= nil and c ~= nil and d ~= nil
end

-- botocore's aws.isVirtualHostableS3Bucket(bucket, false).
function M.virtual_hostable(b)
  return type(b) == "string" and #b >= 3 and #b <= 63 and not b:find("[^a-z0-9%-]")
         and b:sub(1, 1) ~= "-" and b:sub(-1) ~= "-" and not ipv4(b)
end

function M.endpoint_url()
  local v = os.getenv("AWS_ENDPOINT_URL_S3")
  if v == nil or v == "" then
    v = os.getenv("AWS_ENDPOINT_URL")
  end
  if v == "" then
    return nil
  end
  return v
end

-- The host of an endpoint URL is an IP address (IPv4 or a bracketed IPv6 literal).
local function ip_endpoint(url)
  local host = url:match("^%a[%w+.-]*://([^/?#]*)") or ""
  host = host:gsub("^.*@", "")
  if host:sub(1, 1) == "[" then
    return true
  end
  return ipv4((host:gsub(":%d*$", "")))
end

function M.addressing(op, params, path, style, endpoint_url)
  local uri = op.http and op.http.requestUri or ""
  local b = params.Bucket
  if style == "path" or uri:sub(1, 9) ~= "/{Bucket}" or type(b) ~= "string" then
    return nil, path
  end
  if not M.virtual_hostable(b) then
    -- botocore's rules: a bucket with dots is a host name only on a plain-http endpoint
    -- that was asked for virtual addressing (TLS certificates cover one label)
    local http = endpoint_url and endpoint_url:sub(1, 7):lower() == "http://"
    if not (http and style == "virtual" and #b <= 63) then
      return nil, path
    end
    for label in (b .. "."):gmatch("([^.]*)%.") do
      if not M.virtual_hostable(label) then
        return nil, path
      end
    end
  end
  if endpoint_url and (style ~= "virtual" or ip_endpoint(endpoint_url)) then
    return nil, path
  end
  -- the serializer wrote "/" .. bucket (never encoded: a hostable name has no byte to encode)
  local rest = path:sub(#b + 2)
  assert(path:sub(1, #b + 1) == "/" .. b, "the path does not start with the bucket")
  if rest == "" then
    rest = "/"
  end
  return b .. ".", rest
end

-- botocore's percent_encode(value, safe="-._~/"): UTF-8 bytes outside the set as %XX.
local function quote(s)
  return (s:gsub("[^%w%-%._~/]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- botocore's handle_copy_source_param: "bucket/key[?versionId=v]" with the key encoded.
local function copy_source(v)
  if type(v) == "table" then
    local b, k = v.Bucket, v.Key
    if type(b) ~= "string" or type(k) ~= "string" then
      error("Parameter validation failed:\nMissing required parameter: CopySource needs Bucket "
            .. "and Key (strings)", 0)
    end
    local out = quote(b .. "/" .. k)
    if v.VersionId ~= nil then
      out = out .. "?versionId=" .. tostring(v.VersionId)
    end
    return out
  elseif type(v) == "string" then
    local first, version = v:match("^(.-)(%?versionId=%S+)$")
    if first then
      return quote(first) .. version
    end
    return quote(v)
  end
  return v -- the validator reports the type
end

local LISTS = {
  ListObjects = {top = {"Delimiter", "Marker", "NextMarker"},
                 nested = {{"Contents", "Key"}, {"CommonPrefixes", "Prefix"}}},
  ListObjectsV2 = {top = {"Delimiter", "Prefix", "StartAfter"},
                   nested = {{"Contents", "Key"}, {"CommonPrefixes", "Prefix"}}},
  ListObjectVersions = {top = {"KeyMarker", "NextKeyMarker", "Prefix", "Delimiter"},
                        nested = {{"Versions", "Key"}, {"DeleteMarkers", "Key"},
                                  {"CommonPrefixes", "Prefix"}}},
}

-- botocore's sse_md5 and copy_source_sse_md5: an SSE-C key given without its MD5 is sent
-- base64-encoded, with the base64 MD5 of its bytes.
local SSE_C = {
  HeadObject = {"SSECustomer"}, GetObject = {"SSECustomer"}, PutObject = {"SSECustomer"},
  CopyObject = {"SSECustomer", "CopySourceSSECustomer"}, CreateMultipartUpload = {"SSECustomer"},
  UploadPart = {"SSECustomer"}, UploadPartCopy = {"SSECustomer", "CopySourceSSECustomer"},
  SelectObjectContent = {"SSECustomer"},
}

local function sse_c(op, params)
  for _, prefix in ipairs(SSE_C[op.name] or {}) do
    local key = params[prefix .. "Key"]
    if type(key) == "string" and params[prefix .. "KeyMD5"] == nil then
      local codec = require("hookhost.aws.codec")
      params[prefix .. "KeyMD5"] = codec.base64(require("hookhost.aws.core").md5(key))
      params[prefix .. "Key"] = codec.base64(key)
    end
  end
end

function M.before(op, params)
  sse_c(op, params)
  if (op.name == "CopyObject" or op.name == "UploadPartCopy") and params.CopySource ~= nil then
    params.CopySource = copy_source(params.CopySource)
  end
  if LISTS[op.name] and params.EncodingType == nil then
    params.EncodingType = "url"
    return true
  end
  return false
end

-- Python's unquote_plus: '+' is a space, %XX a byte.
local function unquote_plus(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

function M.after(op, result, auto)
  local l = LISTS[op.name]
  if not (l and auto and type(result) == "table" and result.EncodingType == "url") then
    return
  end
  for _, k in ipairs(l.top) do
    if type(result[k]) == "string" then
      result[k] = unquote_plus(result[k])
    end
  end
  for _, kk in ipairs(l.nested) do
    local list = result[kk[1]]
    if type(list) == "table" then
      for _, member in ipairs(list) do
        if type(member) == "table" and type(member[kk[2]]) == "string" then
          member[kk[2]] = unquote_plus(member[kk[2]])
        end
      end
    end
  end
end

return M
