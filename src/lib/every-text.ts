/** Whether every string and field name in a JSON value passes `test`. */
export function everyText(value: unknown, test: (text: string) => boolean): boolean {
  if (typeof value === "string") return test(value);
  if (Array.isArray(value)) return value.every((item) => everyText(item, test));
  if (value !== null && typeof value === "object")
    return Object.entries(value).every(([name, field]) => test(name) && everyText(field, test));
  return true;
}
