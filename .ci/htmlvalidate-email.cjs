// html-validate rules for tripmail's rendered emails (tests/it/inbox_checks.rs, .ci/inbox-checks.sh):
// the recommended preset, with only the exceptions that email HTML needs. Each says why; any other
// finding is an error to fix in the templates.
"use strict";

module.exports = {
  extends: ["html-validate:recommended"],
  elements: [
    "html5",
    {
      // Outlook for Windows renders with Word, which lays a table out by these attributes and ignores
      // the CSS that replaced them; MJML writes them on every layout table for that reason. Only
      // these attributes, on these elements, stop being "deprecated": any other deprecated attribute
      // (hspace, <font>'s, background, ...) is still reported.
      table: {
        attributes: {
          align: { deprecated: false },
          cellpadding: { deprecated: false },
          cellspacing: { deprecated: false },
          width: { deprecated: false },
        },
      },
      td: {
        attributes: {
          align: { deprecated: false },
          bgcolor: { deprecated: false },
          valign: { deprecated: false },
        },
      },
      // MJML (the official one and mrml alike) writes height="auto" on every image whose height
      // is not set; clients read the value as no height, so the picture keeps its proportions.
      // Any other height must be a whole number, and width is not relaxed at all
      // (width="186.64801" stays an error).
      img: {
        attributes: {
          height: { enum: ["/^\\d+$/", "auto"] },
        },
      },
    },
  ],
  rules: {
    // Inline styles are how email is styled: Gmail on mobile and other clients drop or rewrite the
    // <style> element, so the inline style is the one that holds everywhere.
    "no-inline-style": "off",
    // <!--[if mso | IE]> ... <![endif]--> is the only way to give Outlook for Windows (Word) the
    // fixed-width tables it needs; every other client reads them as comments.
    "no-conditional-comment": "off",
    // role="article" with aria-roledescription="email" on the wrapping <div> is the accessible
    // pattern for email bodies: <article> is an HTML5 semantic element that several clients drop
    // (caniemail "HTML5 semantics"). Other roles that have a native element are still reported.
    "prefer-native-element": ["error", { exclude: ["article"] }],
    // Spelling only, no client cares: <img/> vs <img>, <!doctype html> vs <!DOCTYPE html> are the
    // same HTML; the renderer (mrml) chooses.
    "void-style": "off",
    "doctype-style": "off",
  },
};
