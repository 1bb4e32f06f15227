"""fio --output-format=json on stdin -> one benchmark row (JSON) on stdout."""
import json
import sys

j = json.load(sys.stdin)["jobs"][0]
rd = j["read"]
ios = rd["total_ios"]
runtime_s = j["job_runtime"] / 1000.0
cpu_s = (j["usr_cpu"] + j["sys_cpu"]) / 100.0 * runtime_s
lat = rd.get("clat_ns") or rd["lat_ns"]
pct = lat.get("percentile", {})
p999 = next((v for k, v in pct.items() if abs(float(k) - 99.9) < 1e-6), 0)
print(json.dumps({"iops": rd["iops"], "lat_mean_us": rd["lat_ns"]["mean"] / 1000.0,
                  "lat_p999_us": p999 / 1000.0, "cpu_ns_per_io": cpu_s * 1e9 / max(ios, 1)}))
