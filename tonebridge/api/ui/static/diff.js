// A word diff (longest common subsequence) of a model's output against a user's correction.
import { el } from "/ui/static/common.js";

function lcsTable(a, b) {
  const t = Array.from({ length: a.length + 1 }, () => new Array(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      t[i][j] = a[i] === b[j] ? t[i + 1][j + 1] + 1 : Math.max(t[i + 1][j], t[i][j + 1]);
    }
  }
  return t;
}

export function wordDiff(before, after) {
  const a = before.split(/(\s+)/), b = after.split(/(\s+)/);
  if (a.length * b.length > 250000) return [["-", before], ["+", after]];
  const t = lcsTable(a, b), parts = [];
  let i = 0, j = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) { parts.push(["=", a[i]]); i++; j++; }
    else if (t[i + 1][j] >= t[i][j + 1]) parts.push(["-", a[i++]]);
    else parts.push(["+", b[j++]]);
  }
  while (i < a.length) parts.push(["-", a[i++]]);
  while (j < b.length) parts.push(["+", b[j++]]);
  return parts;
}

export function diffView(before, after) {
  const tags = { "=": "span", "-": "del", "+": "ins" };
  return el("div", { class: "diff" }, wordDiff(before, after).map(([op, text]) => el(tags[op], {}, text)));
}
