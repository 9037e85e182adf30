// One form helper for every page: labelled inputs, the server's input problems shown under the
// field they concern (or above the button), and a status line for success.
import type { UserError } from "./api";
import { h, messageOf } from "./dom";

export interface Field {
  name: string; // the mutation input's field name, so that UserError.field finds it
  label: string;
  type?: string;
  value?: string;
  autocomplete?: string;
  required?: boolean;
}

/** What a submit handler reports: problems to show, or a notice when it worked. */
export interface Outcome {
  errors?: UserError[];
  notice?: string;
}

export function form(
  title: string,
  fields: Field[],
  submitLabel: string,
  onSubmit: (values: Record<string, string>) => Promise<Outcome | void>,
): HTMLElement {
  const alert = h("p", { class: "error", role: "alert" });
  const status = h("p", { class: "notice", role: "status" });
  const fieldErrors = new Map<string, HTMLElement>();
  const inputs = fields.map((field) => {
    const id = `field-${field.name}`;
    const input = h("input", {
      id,
      name: field.name,
      type: field.type ?? "text",
      autocomplete: field.autocomplete ?? "off",
    });
    input.value = field.value ?? "";
    input.required = field.required ?? true;
    const error = h("span", { class: "error", id: `${id}-error` });
    input.setAttribute("aria-describedby", error.id);
    fieldErrors.set(field.name, error);
    return h("p", {}, h("label", { for: id }, field.label), input, error);
  });
  const button = h("button", { type: "submit" }, submitLabel);
  const element = h("form", {}, h("h1", {}, title), ...inputs, alert, button, status);

  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const node of [alert, status, ...fieldErrors.values()]) node.textContent = "";
    const values = Object.fromEntries(
      fields.map((f) => [f.name, (element.elements.namedItem(f.name) as HTMLInputElement).value]),
    );
    button.disabled = true;
    try {
      const outcome = (await onSubmit(values)) ?? {};
      for (const problem of outcome.errors ?? []) {
        const place = (problem.field && fieldErrors.get(problem.field)) || alert;
        place.textContent = problem.message;
      }
      if (!outcome.errors?.length && outcome.notice) status.textContent = outcome.notice;
    } catch (error) {
      alert.textContent = messageOf(error);
    } finally {
      button.disabled = false;
    }
  });
  return element;
}
