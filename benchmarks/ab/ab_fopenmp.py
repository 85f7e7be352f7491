"""Same-run A/B of two builds of the compiled core: the GRU kernel (forward + backward, called directly) at
S1-S4, 1 and 2 threads, alternating the two libraries in one process.

Used for the -fopenmp change (benchmarks/README.md, issue 15): OLD = a library built without -fopenmp
(main at 0db942c), NEW = this tree's, with main's routing set on it::

    RNNKIT_ONEDNN_STEP=1 RNNKIT_BATCH_SPLIT=1 python benchmarks/ab/ab_fopenmp.py OLD.so NEW.so

(the .so files are in torch's extension cache, ~/.cache/torch_extensions/<py>_cpu/rnnkit_fused_<hash>/).
"""
import importlib.util
import statistics
import sys
import time

import torch

def mod(p):
    spec = importlib.util.spec_from_file_location(p.split('/')[-1].split('.')[0], p)
    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m); return m
old, new = mod(sys.argv[1]), mod(sys.argv[2])
SH = {"S1": (28,128,128), "S2": (35,32,256), "S3": (100,64,512), "S4": (500,16,128)}
print("| shape | threads | no -fopenmp ms | -fopenmp ms | ratio |"); print("|---|---|---|---|---|")
for nt in (1, 2):
    torch.set_num_threads(nt)
    for name, (T,B,H) in SH.items():
        torch.manual_seed(0)
        xp = torch.randn(T,B,3*H)*.5; h0=torch.randn(B,H)*.5; w=torch.randn(3*H,H)/H**.5; b=torch.randn(3*H)*.1
        bs = torch.full((T,),B,dtype=torch.long)
        def once(m):
            t0=time.perf_counter(); Y,hn,G,X = m.gru_forward(xp,h0,w,b,bs,T,True,True)
            m.gru_backward(torch.ones_like(Y),hn,h0,w,True,bs,Y,G,X,True); return time.perf_counter()-t0
        r = {0: [], 1: []}
        reps = 3 if name == "S3" else 10
        for rnd in range(5):
            for k, m in ((0, old), (1, new)):
                for _ in range(reps): r[k].append(once(m))
        a, c = statistics.median(r[0])*1e3, statistics.median(r[1])*1e3
        print(f"| {name} | {nt} | {a:.2f} | {c:.2f} | {c/a:.2f} |", flush=True)
