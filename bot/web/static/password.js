// Live checklist of the password page. The server checks everything again; this only
// shows, as the user types, which of the institution's rules the new password meets.
"use strict";
(function () {
  // A rule names a character class and, except for "any special character", its
  // characters; "not" lists characters that do not count (NTUST: "_" is not special).
  function counts(ch, rule) {
    if (rule.not && rule.not.includes(ch)) return false;
    if (rule.chars) return rule.chars.includes(ch);
    return rule.class === "special" && !/[\p{L}\p{N}\s]/u.test(ch);
  }
  function has(password, rule) {
    return [...password].some((ch) => counts(ch, rule));
  }
  function met(rule, password, confirm) {
    switch (rule.kind) {
      case "min_length": return [...password].length >= rule.value;
      case "max_length": return [...password].length <= rule.value;
      case "class": return has(password, rule);
      case "classes": return rule.classes.filter((c) => has(password, c)).length >= rule.value;
      case "match": return password.length > 0 && password === confirm;
      default: return null;  // only the server can tell (common list, strength, history)
    }
  }
  const input = document.getElementById("new_password");
  const confirm = document.getElementById("confirm_password");
  if (input && confirm) {
    const update = () => {
      for (const item of document.querySelectorAll("#checklist li[data-rule]")) {
        const result = met(JSON.parse(item.dataset.rule), input.value, confirm.value);
        if (result === null) continue;  // the server's (and the strength meter's) to mark
        item.classList.toggle("met", result === true);
        item.classList.toggle("unmet", result === false && input.value.length > 0);
      }
    };
    input.addEventListener("input", update);
    confirm.addEventListener("input", update);
  }
  // The strength meter: only the server's zxcvbn can score, so ask it as the user types.
  const meter = document.getElementById("strength");
  const form = document.getElementById("password-form");
  if (meter && input && form) {
    const weak = document.querySelector('#checklist li[data-rule*=\'"code": "too_weak"\']');
    let timer = null;
    let asked = 0;
    const ask = async () => {
      const mine = ++asked;
      if (!input.value) {
        meter.textContent = "";
        meter.dataset.score = "";
        if (weak) weak.classList.remove("met", "unmet");
        return;
      }
      const body = new FormData();
      body.append("csrf", form.elements.csrf.value);
      body.append("new_password", input.value);
      const response = await fetch(location.pathname.replace(/\/$/, "") + "/strength" + location.search,
        { method: "POST", body, credentials: "same-origin" });
      if (!response.ok || mine !== asked) return;
      const reading = await response.json();
      meter.textContent = reading.label;
      meter.dataset.score = String(reading.score);
      if (weak) {
        weak.classList.toggle("met", reading.enough);
        weak.classList.toggle("unmet", !reading.enough);
      }
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 250); });
  }
  // A suspension notice must be scrolled to its end before it can be acknowledged.
  for (const button of document.querySelectorAll("button[data-needs-scroll]")) {
    const box = document.getElementById(button.dataset.needsScroll);
    const atEnd = () => box.scrollTop + box.clientHeight >= box.scrollHeight - 2;
    if (!atEnd()) {
      button.disabled = true;
      box.addEventListener("scroll", () => { if (atEnd()) button.disabled = false; });
    }
  }
})();
