/* Tests for json.c: objects built and fields read through cjson. */
#include "json.h"
#include "testhelp.h"

#include <stdlib.h>
#include <string.h>

int main(void)
{
    TEST("build an object with every kind of value, and read it back")
    {
        struct json *j = json_new();
        json_set_str(j, "s", "a\"b\n");
        json_set_int(j, "i", 42);
        json_set_bool(j, "b", 1);
        json_set_raw(j, "r", "{\"k\":[1]}", 9);
        json_set_raw(j, "bad", "{nope", 5);
        const char *arr[] = {"x", "y"};
        json_set_str_array(j, "a", arr, 2);
        json_set_str(j, "skipped", NULL);
        char *text = json_finish(j);
        struct json_field f[] = {{.key = "s"}, {.key = "i"}, {.key = "bad"}, {.key = "skipped"}};
        char err[128];
        CHECK_INT(json_get_fields(text, strlen(text), f, 4, err, sizeof err), 0);
        CHECK_INT(f[0].kind, JSON_STRING);
        CHECK_STR(f[0].value, "a\"b\n");
        CHECK_INT(f[1].kind, JSON_NUMBER);
        CHECK(f[1].num == 42);
        CHECK_STR(f[2].value, "{nope");
        CHECK_INT(f[3].kind, JSON_ABSENT);
        CHECK(strstr(text, "\"r\":{\"k\":[1]}") != NULL);
        CHECK(strstr(text, "\"a\":[\"x\",\"y\"]") != NULL);
        json_fields_free(f, 4);
        free(text);
    }
    TEST("raw JSON is kept as it is: an empty list stays [], '/' stays as written")
    {
        struct json *j = json_new();
        json_set_str(j, "s", "x");
        const char *raw = "{\"ids\":[],\"u\":\"a/b\"}";
        json_set_raw(j, "result", raw, strlen(raw));
        json_set_raw(j, "nl", "{\"a\":\n[]}", 9); /* a line break: decoded and encoded again */
        char *text = json_finish(j);
        CHECK(strstr(text, "\"result\":{\"ids\":[],\"u\":\"a/b\"}") != NULL);
        CHECK(strstr(text, "\"nl\":{\"a\":{}}") != NULL);
        CHECK(strstr(text, "\"s\":\"x\"") != NULL && strchr(text, '\n') == NULL);
        struct json_field f[] = {{.key = "result", .want_json = 1}};
        char err[128];
        CHECK_INT(json_get_fields(text, strlen(text), f, 1, err, sizeof err), 0);
        CHECK_INT(f[0].kind, JSON_OTHER);
        json_fields_free(f, 1);
        free(text);
        j = json_new(); /* the only member */
        json_set_raw(j, "r", "[]", 2);
        text = json_finish(j);
        CHECK_STR(text, "{\"r\":[]}");
        free(text);
    }
    TEST("an empty string array is [], not {}")
    {
        struct json *j = json_new();
        json_set_str(j, "m", "x");
        json_set_str_array(j, "stackTrace", NULL, 0);
        char *text = json_finish(j);
        CHECK_STR(text, "{\"m\":\"x\",\"stackTrace\":[]}");
        free(text);
        j = json_new();
        json_set_str_array(j, "a", NULL, 0);
        json_set_str_array(j, "b", NULL, 0);
        text = json_finish(j);
        CHECK_STR(text, "{\"a\":[],\"b\":[]}");
        free(text);
    }
    TEST("json_unslash: '\\/' becomes '/', every other escape stays, and the text decodes the same")
    {
        const char *value = "https://a.example/x \\/ \\\\/ \"/\" \n/";
        struct json *j = json_new();
        json_set_str(j, "u", value);
        char *text = json_finish(j);
        CHECK(strstr(text, "\\/") != NULL); /* cjson escapes '/' */
        CHECK(json_unslash(text) == text);
        CHECK_STR(text, "{\"u\":\"https://a.example/x \\\\/ \\\\\\\\/ \\\"/\\\" \\n/\"}");
        struct json_field f[] = {{.key = "u"}};
        char err[128];
        CHECK_INT(json_get_fields(text, strlen(text), f, 1, err, sizeof err), 0);
        CHECK_STR(f[0].value, value);
        json_fields_free(f, 1);
        free(text);
        char odd[] = "\"a\\";
        CHECK_STR(json_unslash(odd), "\"a\\"); /* a trailing backslash is kept */
        CHECK(json_unslash(NULL) == NULL);
    }
    TEST("strings with NUL bytes keep their length")
    {
        struct json_field f[] = {{.key = "k"}};
        char err[128];
        const char *t = "{\"k\":\"a\\u0000b\"}";
        CHECK_INT(json_get_fields(t, strlen(t), f, 1, err, sizeof err), 0);
        CHECK_INT(f[0].len, 3);
        CHECK(memcmp(f[0].value, "a\0b", 3) == 0);
        json_fields_free(f, 1);
    }
    return test_report("json");
}
