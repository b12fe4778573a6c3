#!/usr/bin/env node
require('../build/cli/main.js')
  .main()
  .then((code) => {
    process.exitCode = code;
  });
