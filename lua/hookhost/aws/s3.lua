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
--       is a name, not an IP address. Path style ("https://s3.eu-west-1.amazonaws.com/bucket/key")
--       otherwise: a bucket with dots or capitals, an emulator's endpoint, style "path".
--   s3.endpoint_url() -> the endpoint variable's value S3 calls use, or nil (the default)

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
  if style == "path" or uri:sub(1, 9) ~= "/{Bucket}" or not M.virtual_hostable(b) then
    return nil, path
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

return M
