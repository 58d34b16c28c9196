import sys, pandas as pd
fr = {}
for d in sys.argv[1:]:
    df = pd.read_csv(f"{d}/results.csv")
    df = df[df.row_type == "eval"].sort_values(["algo", "env", "seed", "env_steps"])
    fr[d] = df
    print(d, df.groupby(["algo", "env"]).return_mean.last().round(4).to_dict())
a, b = list(fr.values())[:2]
same = (a.return_mean.values.tolist() == b.return_mean.values.tolist())
print("bit-identical evaluation returns:", same)
if len(fr) > 2:
    c = list(fr.values())[2]
    print("default-flag run identical to det 4-worker:", c.return_mean.values.tolist() == a.return_mean.values.tolist())
