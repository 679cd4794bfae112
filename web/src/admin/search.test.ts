import { describe, expect, test } from "vitest";
import { searchFilter } from "./search";

describe("searchFilter", () => {
  test("a full id, in any case, filters by id", () => {
    expect(searchFilter(" 0970E629-DD35-44E3-B6DA-25612A9D305E ")).toEqual({
      column: "id",
      value: "0970e629-dd35-44e3-b6da-25612a9d305e",
    });
  });

  test("an emotion by its stored value or its name in French or English", () => {
    for (const term of ["anger", "Colère", "ANGER"]) {
      expect(searchFilter(term)).toEqual({ column: "emotion", value: "anger" });
    }
    expect(searchFilter("Tristesse")).toEqual({ column: "emotion", value: "sad" });
  });

  test("a part of an id or an unknown word is no filter", () => {
    expect(searchFilter("0970e629")).toBeNull();
    expect(searchFilter("happy")).toBeNull();
    expect(searchFilter("joy'); drop table x; --")).toBeNull();
  });
});
