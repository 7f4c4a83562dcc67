// The baseline of raw-http1.mjs in a process that has loaded rxgi and serves nothing with it:
// what node's own code costs per request in a process of rxgi's shape (more kinds of objects
// through node's shared constructors, e.g. EventEmitter's, whose inline caches then go
// megamorphic). For bench/instructions.mjs, beside the two servers it compares.
import 'rxgi';
import './raw-http1.mjs';
