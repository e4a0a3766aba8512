"""A script written for Flux, unmodified: ``flux start python flux_hello.py`` or
``kvs-sim exec flux_hello.py``.  Options: ``--fail`` raises, ``--exit N`` exits N."""

import sys

import flux
import flux.kvs
from flux.constants import FLUX_KVS_NO_MERGE

if "--fail" in sys.argv:
    raise RuntimeError("asked to fail")
if "--exit" in sys.argv:
    sys.exit(int(sys.argv[sys.argv.index("--exit") + 1]))

h = flux.Flux()
rank = h.get_rank()
flux.kvs.put(h, "hello.who", "world")
flux.kvs.put(h, "hello.args", sys.argv[1:])
flux.kvs.commit(h, FLUX_KVS_NO_MERGE)
print(f"rank {rank} of {h.attr_get('size')}")
print("who:", flux.kvs.get(h, "hello.who"))
print("args:", flux.kvs.get(h, "hello.args"))
with flux.kvs.get_dir(h, "hello") as d:
    print("entries:", sorted(d))
    d["count"] = len(d)
print("count:", flux.kvs.get(h, "hello.count"))

seen = []


def on_change(future, arg):
    value = future.get()
    if value is None:
        return
    seen.append(value)
    if value < 3:
        txn = flux.kvs.KVSTxn(h)
        txn.put("hello.count", value + 1)
        txn.commit_async()
    else:
        future.cancel()


flux.kvs.kvs_watch_async(h, "hello.count").then(on_change, None)
h.reactor_run()
print("watched:", seen)
