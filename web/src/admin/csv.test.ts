import { expect, test } from "vitest";
import { csvField, toCsv } from "./csv";

test("fields are quoted only when they hold a comma, quote or line break", () => {
  expect(csvField("plain")).toBe("plain");
  expect(csvField('say "hi", then\nleave')).toBe('"say ""hi"", then\nleave"');
  expect(csvField(null)).toBe("");
  expect(csvField(0)).toBe("0");
  expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
});

test("a header line, then one CRLF-ended line per row in the columns' order", () => {
  const rows = [{ id: "a", n: 1, note: "x,y" }, { id: "b", n: null, note: "" }];
  expect(toCsv(["id", "note", "n"], rows)).toBe('id,note,n\r\na,"x,y",1\r\nb,,\r\n');
});
