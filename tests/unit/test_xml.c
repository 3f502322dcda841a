/* Tests for xml.c: real AWS response shapes read back through Lua, limits, hostile documents,
 * and no leak when Lua runs out of memory half-way through building the tables. */
#include "buf.h"
#include "testhelp.h"
#include "xml.h"

#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

static lua_State *L;
static char got[2048];
static char err[256];

/* Run a Lua chunk (with globals `xml` and `doc` in scope) and return its first result as a
 * string, or "ERROR: <message>". */
static const char *eval(const char *code)
{
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fmt_into(got, sizeof got, "ERROR: %s", lua_tostring(L, -1));
    } else {
        fmt_into(got, sizeof got, "%s", luaL_tolstring(L, -1, NULL));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return got;
}

/* Parse through the C API into the global `doc`; returns xml_push's result. */
static int load(const char *doc)
{
    err[0] = '\0';
    int rc = xml_push(L, doc, strlen(doc), err, sizeof err);
    if (rc == 0)
        lua_setglobal(L, "doc");
    return rc;
}

/* ======================================================================== documents */

static const char create_invalidation[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Invalidation xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">\n"
    "   <Id>I2J0I21PCUYOIK</Id>\n"
    "   <Status>InProgress</Status>\n"
    "   <CreateTime>2026-11-26T05:35:17.123Z</CreateTime>\n"
    "   <InvalidationBatch>\n"
    "      <Paths>\n"
    "         <Quantity>2</Quantity>\n"
    "         <Items>\n"
    "            <Path>/*</Path>\n"
    "            <Path>/index.html</Path>\n"
    "         </Items>\n"
    "      </Paths>\n"
    "      <CallerReference>hookhost-d-ABCDEF123-e1</CallerReference>\n"
    "   </InvalidationBatch>\n"
    "</Invalidation>\n";

static const char invalidation_list[] =
    "<?xml version=\"1.0\"?>\n"
    "<InvalidationList xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\">"
    "<Items>"
    "<InvalidationSummary><CreateTime>2026-11-26T05:00:00Z</CreateTime><Id>IA</Id>"
    "<Status>InProgress</Status></InvalidationSummary>"
    "<InvalidationSummary><CreateTime>2026-11-25T05:00:00Z</CreateTime><Id>IB</Id>"
    "<Status>Completed</Status></InvalidationSummary>"
    "<InvalidationSummary><CreateTime>2026-11-24T05:00:00Z</CreateTime><Id>IC</Id>"
    "<Status>Completed</Status></InvalidationSummary>"
    "</Items><IsTruncated>false</IsTruncated><Marker></Marker><MaxItems>100</MaxItems>"
    "<Quantity>3</Quantity></InvalidationList>";

static const char describe_alarms[] =
    "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\n"
    "  <DescribeAlarmsResult>\n"
    "    <MetricAlarms>\n"
    "      <member>\n"
    "        <AlarmName>api-5xx</AlarmName>\n"
    "        <AlarmArn>arn:aws:cloudwatch:us-east-1:123456789012:alarm:api-5xx</AlarmArn>\n"
    "        <StateValue>OK</StateValue>\n"
    "        <Dimensions>\n"
    "          <member><Name>LoadBalancer</Name><Value>app/web/50dc6c495c0c9188</Value></member>\n"
    "          <member><Name>TargetGroup</Name><Value>targetgroup/green/6d0ecf831eec9f09</Value>"
    "</member>\n"
    "        </Dimensions>\n"
    "        <Threshold>5.0</Threshold>\n"
    "      </member>\n"
    "      <member>\n"
    "        <AlarmName>api-latency</AlarmName>\n"
    "        <StateValue>ALARM</StateValue>\n"
    "        <StateReason>Threshold Crossed: 1 datapoint [2.5 (26/11/26 05:30:00)] was greater "
    "than the threshold (1.0).</StateReason>\n"
    "        <Dimensions/>\n"
    "      </member>\n"
    "    </MetricAlarms>\n"
    "    <CompositeAlarms/>\n"
    "  </DescribeAlarmsResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>f2b1a3c4-0d5e-4f60-8a71-92b3c4d5e6f7</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</DescribeAlarmsResponse>\n";

static const char sns_publish[] =
    "<PublishResponse xmlns=\"http://sns.amazonaws.com/doc/2010-03-31/\">\n"
    "  <PublishResult>\n"
    "    <MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId>\n"
    "  </PublishResult>\n"
    "  <ResponseMetadata>\n"
    "    <RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId>\n"
    "  </ResponseMetadata>\n"
    "</PublishResponse>\n";

static const char cloudfront_error[] =
    "<?xml version=\"1.0\"?>\n"
    "<ErrorResponse xmlns=\"http://cloudfront.amazonaws.com/doc/2020-05-31/\"><Error>"
    "<Type>Sender</Type><Code>NoSuchDistribution</Code>"
    "<Message>The specified distribution does not exist.</Message></Error>"
    "<RequestId>9a8b7c6d-5e4f-3a2b-1c0d-ef0123456789</RequestId></ErrorResponse>";

static const char query_error[] =
    "<ErrorResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\n"
    "  <Error>\n"
    "    <Type>Sender</Type>\n"
    "    <Code>Throttling</Code>\n"
    "    <Message>Rate exceeded</Message>\n"
    "  </Error>\n"
    "  <RequestId>0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e</RequestId>\n"
    "</ErrorResponse>\n";

static const char billion_laughs[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE lolz [\n"
    " <!ENTITY lol \"lol\">\n"
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
    "]>\n"
    "<lolz>&lol3;</lolz>\n";

/* ======================================================================== out of memory */

/* An allocator that fails once `left` bytes have been handed out, so a conversion can be made to
 * fail at every point in turn. */
static size_t alloc_left;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    size_t grow = ptr && nsize > osize ? nsize - osize : (ptr ? 0 : nsize);
    if (grow > alloc_left)
        return NULL;
    alloc_left -= grow;
    return realloc(ptr, nsize);
}

static int push_doc(lua_State *S)
{
    size_t len;
    const char *s = lua_tolstring(S, 1, &len);
    char e[256];
    if (xml_push(S, s, len, e, sizeof e) < 0)
        return luaL_error(S, "%s", e);
    return 1;
}

/* ======================================================================== the tests */

int main(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaopen_hookhost_xml(L);
    lua_setglobal(L, "xml");

    TEST("CloudFront CreateInvalidation response")
    {
        CHECK_INT(load(create_invalidation), 0);
        CHECK_STR(eval("return doc.name"), "Invalidation");
        CHECK_STR(eval("return doc.text"), "");
        CHECK_STR(eval("return doc.attrs.xmlns"),
                  "http://cloudfront.amazonaws.com/doc/2020-05-31/");
        CHECK_STR(eval("return xml.text(doc, 'Id')"), "I2J0I21PCUYOIK");
        CHECK_STR(eval("return xml.text(doc, 'Status')"), "InProgress");
        CHECK_STR(eval("return xml.text(doc, 'CreateTime')"), "2026-11-26T05:35:17.123Z");
        CHECK_STR(eval("return xml.text(doc, 'InvalidationBatch/CallerReference')"),
                  "hookhost-d-ABCDEF123-e1");
        CHECK_STR(eval("return xml.text(doc, 'InvalidationBatch/Paths/Quantity')"), "2");
        CHECK_STR(eval("local t = {} for _, p in ipairs(xml.find_all(doc, "
                       "'InvalidationBatch/Paths/Items/Path')) do t[#t+1] = p.text end "
                       "return table.concat(t, ',')"),
                  "/*,/index.html");
        CHECK_STR(eval("return #doc .. ' ' .. doc[1].name .. ' ' .. tostring(doc[1].attrs)"),
                  "4 Id nil");
    }
    TEST("CloudFront InvalidationList")
    {
        CHECK_INT(load(invalidation_list), 0);
        CHECK_STR(eval("local t = {} for _, s in ipairs(xml.find_all(doc, "
                       "'Items/InvalidationSummary')) do "
                       "t[#t+1] = xml.text(s, 'Id') .. '=' .. xml.text(s, 'Status') end "
                       "return table.concat(t, ',')"),
                  "IA=InProgress,IB=Completed,IC=Completed");
        CHECK_STR(eval("return xml.text(doc, 'IsTruncated')"), "false");
        CHECK_STR(eval("return '[' .. xml.text(doc, 'Marker') .. ']'"), "[]");
        CHECK_STR(eval("return tostring(xml.find(doc, 'NextMarker'))"), "nil");
        CHECK_STR(eval("return tostring(xml.text(doc, 'Items/Nope/Id'))"), "nil");
    }
    TEST("CloudWatch DescribeAlarms (query protocol, repeated members)")
    {
        CHECK_INT(load(describe_alarms), 0);
        CHECK_STR(eval("return doc.name"), "DescribeAlarmsResponse");
        CHECK_STR(eval("return #xml.find_all(doc, 'DescribeAlarmsResult/MetricAlarms/member')"),
                  "2");
        CHECK_STR(eval("local m = xml.find_all(doc, 'DescribeAlarmsResult/MetricAlarms/member') "
                       "return xml.text(m[1], 'AlarmName') .. ':' .. xml.text(m[1], "
                       "'StateValue') .. ',' .. xml.text(m[2], 'AlarmName') .. ':' .. "
                       "xml.text(m[2], 'StateValue')"),
                  "api-5xx:OK,api-latency:ALARM");
        CHECK_STR(eval("local m = xml.find(doc, 'DescribeAlarmsResult/MetricAlarms/member') "
                       "local d = xml.find_all(m, 'Dimensions/member') "
                       "return #d .. ' ' .. xml.text(d[2], 'Value')"),
                  "2 targetgroup/green/6d0ecf831eec9f09");
        CHECK_STR(eval("return #xml.find_all(doc, "
                       "'DescribeAlarmsResult/MetricAlarms/member/Dimensions/member')"),
                  "2");
        CHECK_STR(eval("return #xml.find_all(doc, 'DescribeAlarmsResult/CompositeAlarms/member')"),
                  "0");
        CHECK_STR(eval("return xml.text(doc, 'ResponseMetadata/RequestId')"),
                  "f2b1a3c4-0d5e-4f60-8a71-92b3c4d5e6f7");
        CHECK_STR(
            eval("return xml.text(doc, 'DescribeAlarmsResult/MetricAlarms/member/Threshold')"),
            "5.0");
    }
    TEST("SNS Publish response")
    {
        CHECK_INT(load(sns_publish), 0);
        CHECK_STR(eval("return xml.text(doc, 'PublishResult/MessageId')"),
                  "567910cd-659e-55d4-8ccb-5aaf14679dc0");
        CHECK_STR(eval("return xml.text(doc, '/ResponseMetadata//RequestId/')"),
                  "d74b8436-ae13-5ab4-a9ff-ce54dfea72a0");
    }
    TEST("CloudFront and query-protocol error documents")
    {
        CHECK_INT(load(cloudfront_error), 0);
        CHECK_STR(eval("return xml.text(doc, 'Error/Code')"), "NoSuchDistribution");
        CHECK_STR(eval("return xml.text(doc, 'Error/Message')"),
                  "The specified distribution does not exist.");
        CHECK_STR(eval("return xml.text(doc, 'Error/Type')"), "Sender");
        CHECK_STR(eval("return xml.text(doc, 'RequestId')"),
                  "9a8b7c6d-5e4f-3a2b-1c0d-ef0123456789");
        CHECK_INT(load(query_error), 0);
        CHECK_STR(eval("return xml.text(doc, 'Error/Code') .. '|' .. xml.text(doc, "
                       "'Error/Message') .. '|' .. xml.text(doc, 'RequestId')"),
                  "Throttling|Rate exceeded|0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e");
    }
    TEST("namespace prefixes are dropped from element names, kept on attributes")
    {
        CHECK_INT(load("<s:Envelope xmlns:s=\"urn:s\"><s:Body><m:Value xmlns:m=\"urn:m\" "
                       "m:kind=\"a\">1</m:Value></s:Body></s:Envelope>"),
                  0);
        CHECK_STR(eval("return doc.name"), "Envelope");
        CHECK_STR(eval("return xml.text(doc, 'Body/Value')"), "1");
        CHECK_STR(eval("return xml.find(doc, 'Body/Value').attrs['m:kind']"), "a");
    }
    TEST("entities, character references and CDATA are decoded")
    {
        CHECK_INT(load("<M>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#233;&#x263A;</M>"), 0);
        CHECK_STR(eval("return doc.text"), "a & b <c> \"d\" 'e' \xc3\xa9\xe2\x98\xba");
        CHECK_INT(load("<M>x<![CDATA[<not> & &amp; markup]]>y</M>"), 0);
        CHECK_STR(eval("return doc.text"), "x<not> & &amp; markupy");
        CHECK_INT(load("<a><b>  </b><c>\n</c></a>"), 0);
        CHECK_STR(eval("return '[' .. doc[1].text .. '][' .. doc[2].text .. ']'"), "[  ][\n]");
        CHECK_STR(eval("return tostring(xml.find(doc, '') == doc)"), "true");
    }
    TEST("malformed documents come back as errors with a line")
    {
        CHECK_INT(load("<a><b></a>"), -1);
        CHECK_STR(err, "XML: mismatched tag at line 1");
        CHECK_INT(load("<a>\n<b>\n</b>\n"), -1);
        CHECK_STR(err, "XML: no element found at line 4");
        CHECK_INT(load("hello"), -1);
        CHECK_STR(err, "XML: syntax error at line 1");
        CHECK_INT(load(""), -1);
        CHECK_STR(err, "XML: no element found at line 1");
        CHECK_INT(load("<a>&nope;</a>"), -1);
        CHECK_STR(err, "XML: undefined entity at line 1");
        CHECK_INT(load("<a></a><b/>"), -1);
        CHECK_STR(err, "XML: junk after document element at line 1");
        CHECK_STR(eval("local t, e = xml.decode('<a>') return tostring(t) .. '|' .. e"),
                  "nil|XML: no element found at line 1");
        CHECK_STR(eval("return tostring(pcall(xml.decode, {}))"), "false");
        CHECK_STR(eval("return tostring(pcall(xml.find, 'x', 'a'))"), "false");
    }
    TEST("DTDs, entity declarations and billion laughs are refused")
    {
        CHECK_INT(load(billion_laughs), -1);
        CHECK_STR(err, "XML: DTD not allowed at line 2");
        CHECK_INT(load("<!DOCTYPE foo [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
                       "<foo>&xxe;</foo>"),
                  -1);
        CHECK_STR(err, "XML: DTD not allowed at line 1");
        CHECK_INT(load("<!DOCTYPE foo SYSTEM \"http://example.invalid/x.dtd\"><foo/>"), -1);
        CHECK_STR(err, "XML: DTD not allowed at line 1");
    }
    TEST("depth, element count and size limits")
    {
        struct buf b = BUF_INIT(0);
        for (int i = 0; i < XML_DOC_MAX_DEPTH; i++)
            buf_puts(&b, "<a>");
        for (int i = 0; i < XML_DOC_MAX_DEPTH; i++)
            buf_puts(&b, "</a>");
        CHECK_INT(load(b.p), 0);
        buf_reset(&b);
        for (int i = 0; i <= XML_DOC_MAX_DEPTH; i++)
            buf_puts(&b, "<a>");
        CHECK_INT(load(b.p), -1);
        CHECK_STR(err, "XML: nesting deeper than 64 elements at line 1");
        buf_reset(&b);
        buf_puts(&b, "<r>");
        for (int i = 0; i < XML_DOC_MAX_ELEMENTS; i++)
            buf_puts(&b, "<e/>");
        buf_puts(&b, "</r>");
        CHECK_INT(load(b.p), -1);
        CHECK_STR(err, "XML: more than 200000 elements at line 1");
        buf_free(&b);
        size_t n = XML_DOC_MAX_BYTES + 1;
        char *big = malloc(n);
        memset(big, ' ', n);
        memcpy(big, "<a>", 3);
        CHECK_INT(xml_push(L, big, n, err, sizeof err), -1);
        CHECK_STR(err, "XML: document larger than 16777216 bytes");
        free(big);
        CHECK_INT(lua_gettop(L), 0);
    }
    TEST("running out of Lua memory mid-conversion raises cleanly and leaks nothing")
    {
        int memerr = 0, ok = 0;
        for (size_t cap = 0; cap < 64 * 1024; cap += 512) {
            alloc_left = (size_t)1 << 30;
            lua_State *S = lua_newstate(capped_alloc, NULL);
            lua_pushcfunction(S, push_doc);
            lua_pushstring(S, describe_alarms);
            alloc_left = cap;
            int rc = lua_pcall(S, 1, 1, 0);
            if (rc == LUA_ERRMEM)
                memerr++;
            else if (rc == LUA_OK && lua_istable(S, -1))
                ok++;
            alloc_left = (size_t)1 << 30;
            lua_close(S);
        }
        CHECK(memerr > 5);
        CHECK(ok > 0);
    }

    lua_close(L);
    return test_report("xml");
}
