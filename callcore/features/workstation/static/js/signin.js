// The sign-in form both pages show until a token is accepted.
import { t } from "./i18n.js";
import { el } from "./format.js";

/** Build the form into `main` (labelled by the `hintKey` label) and call
 *  `start(token)`; a refusal is shown under the field. Returns `ask(message)`, which
 *  shows the form again. */
export function signInForm(main, hintKey, start) {
  const form = el("form");
  form.autocomplete = "off";
  const label = el("label", "", t(hintKey));
  label.dataset.i18n = hintKey;
  label.htmlFor = "token";
  const input = el("input");
  input.id = "token";
  input.type = "password";
  input.required = true;
  const submit = el("button", "", t("sign_in"));
  submit.type = "submit";
  submit.dataset.i18n = "sign_in";
  const error = el("p", "error");
  error.id = "signin-error";
  error.setAttribute("role", "alert");
  form.append(label, input, submit, error);
  main.replaceChildren(form);
  const ask = (message) => {
    main.hidden = false;
    error.textContent = message || "";
    input.focus();
  };
  const attempt = (token) =>
    start(token).catch((err) => ask(err.status === 401 ? t("bad_token") : err.message));
  form.onsubmit = (e) => {
    e.preventDefault();
    error.textContent = "";
    attempt(input.value.trim());
  };
  return { ask, attempt };
}
