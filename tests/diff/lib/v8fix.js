'use strict';
// Node 20's V8 (11.3) can crash with "Fatal error ... unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation when TurboFan has inlined a
// JS->Wasm call (here: into the cedar-wasm glue) and that code is lazily
// deoptimized while the Wasm call is running. It is rare and timing
// dependent (about one run in three of 1,000 cases). Turning the inlining
// off avoids it; the flag is process-wide, so it also covers worker threads.
// run.sh passes the same flag on the node command line.
require('v8').setFlagsFromString('--no-turbo-inline-js-wasm-calls');
