// ESLint for the page's code (explorer/frontend/): every file is an ES module whose names are its own,
// imported from another file of its component (explorer/backend/bundle.py joins them), or the
// browser's. tests/unit/test_frontend.py runs it.
import globals from "globals";

export default [
  {
    files: ["explorer/frontend/**/*.js"], // run from the repo root: .ci/node_modules/.bin/eslint -c .ci/eslint.config.mjs
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.browser } },
    rules: {
      "no-undef": "error",
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
];
