"""Knowledge-base search latency at 10,000 Chinese articles, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/knowledge_search.py                 # both databases
    .venv/bin/python benchmarks/knowledge_search.py --only sqlite --articles 20000
    CALLCORE_BENCH_PG_URL=postgresql://postgres@db:5432/test .venv/bin/python benchmarks/...

Articles are generated (fixed seed) from the vocabulary of a 12345 centre's topics
(社保, 公积金, 医保, 市场监管, 税务, 户籍, 交通, ...), about 600 characters each, so a
topic word is in a few percent of the articles and a common word (办理, 材料) in most.
Each typical query of 2-6 characters is timed through `KnowledgeService.search` (the SQL,
the ranking, the snippets and the reply models), `--rounds` times, after one warm-up
round. Printed: p50 / p99 / max per database and per query length. Target: p99 < 50 ms.
SQLite runs in a temporary folder, PostgreSQL in a throw-away schema.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from callcore.features.knowledge.model import ArticleIn
from callcore.features.knowledge.service import KnowledgeService
from callcore.store.testing import (
    DEFAULT_PG_URL,
    empty_store_url,
    migrated_engine,
    pg_unreachable_reason,
)

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)
# topic -> (unit, words of the topic)
TOPICS: dict[str, tuple[str, list[str]]] = {
    "社保": (
        "市人社局",
        "社保 养老保险 失业保险金 工伤认定 社保卡 参保登记 缴费基数 退休审批 "
        "养老金 转移接续 灵活就业 补缴 待遇资格认证 社保卡补办".split(),
    ),
    "公积金": (
        "市公积金管理中心",
        "公积金 公积金提取 公积金贷款 缴存基数 租房提取 购房提取 "
        "贷款额度 异地转移 账户封存 销户提取 还贷提取".split(),
    ),
    "医保": (
        "市医保局",
        "医保 异地就医 门诊慢特病 住院报销 医保电子凭证 生育津贴 城乡居民医保 "
        "新生儿参保 备案 定点医院 医保目录 大病保险".split(),
    ),
    "市场监管": (
        "市市场监管局",
        "营业执照 消费投诉 食品安全 价格举报 虚假宣传 个体工商户 "
        "商标注册 产品质量 特种设备 计量器具 网购退货".split(),
    ),
    "税务": (
        "市税务局",
        "个税 个人所得税 年度汇算 发票 数电发票 增值税 契税 房产税 "
        "专项附加扣除 退税 纳税申报 税务登记".split(),
    ),
    "户籍": (
        "市公安局",
        "户口迁移 居住证 身份证补办 出生登记 落户 户籍证明 临时身份证 集体户口 户口注销".split(),
    ),
    "交通": (
        "市交通局",
        "公交 出租车 网约车 驾驶证 车辆年检 违章处理 停车收费 敬老卡 地铁 客运班线".split(),
    ),
    "住房": (
        "市住建局",
        "物业费 物业服务 维修基金 商品房预售 房屋租赁 公租房 电梯维修 "
        "小区停车 房产证 不动产登记".split(),
    ),
    "民政": (
        "市民政局",
        "低保 特困供养 婚姻登记 养老服务 残疾人补贴 殡葬服务 社会救助 临时救助 高龄津贴".split(),
    ),
    "环保": (
        "市生态环境局",
        "噪音扰民 油烟污染 污水排放 空气质量 垃圾焚烧 环评审批 建筑工地扬尘 危险废物".split(),
    ),
}
COMMON = ("办理 材料 窗口 线上 申请 审核 工作日 身份证 户口本 流程 条件 期限 咨询 电话 地址 "
          "政务服务中心 街道 社区 网上办理 即时办结 承诺书 委托书 复印件 原件 受理 答复 "
          "登记 派单 回访 办结").split()  # fmt: skip
GLUE = ["的", "需", "可", "应", "请", "并", "在", "按", "向", "由", "经", "后"]
ENDS = "，。；、"
QUERIES = [
    "社保", "医保", "个税", "发票", "低保", "公交", "落户",  # 2
    "公积金", "居住证", "物业费", "营业执照", "异地就医",  # 3-4
    "公积金提取", "失业保险金", "社保卡补办", "数电发票",  # 4-5
    "门诊慢特病", "个人所得税", "建筑工地扬尘", "城乡居民医保",  # 5-6
]  # fmt: skip


def _sentence(rng: random.Random, topic: list[str]) -> str:
    parts = []
    for _ in range(rng.randint(3, 6)):
        words = topic if rng.random() < 0.45 else COMMON
        parts.append(rng.choice(words) + rng.choice(GLUE))
    return "".join(parts) + rng.choice(ENDS)


def generate(n: int, seed: int = 12345) -> list[ArticleIn]:
    """`n` articles spread over the topics, each with a title and ~600 characters."""
    rng = random.Random(seed)
    names = list(TOPICS)
    out = []
    for i in range(n):
        name = names[i % len(names)]
        unit, words = TOPICS[name]
        title = rng.choice(words) + rng.choice(["办理指南", "常见问题", "政策解读", "办事流程"])
        body = "".join(_sentence(rng, words) for _ in range(rng.randint(20, 40)))
        start = date(2024, rng.randint(1, 12), 1)
        out.append(
            ArticleIn(
                id=f"gen-{i:06d}",
                title=f"{title}（{i}）",
                body=body,
                class_id=f"gen.{names.index(name)}",
                class_name=name,
                unit=unit,
                valid_from=start if rng.random() < 0.9 else None,
                valid_until=date(2025, 6, 30) if rng.random() < 0.05 else None,
            )
        )
    return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(url: str, articles: list[ArticleIn], rounds: int) -> dict[str, object]:
    with migrated_engine(url) as engine:
        svc = KnowledgeService(engine, clock=lambda: NOW, timezone="Asia/Shanghai")
        t0 = time.perf_counter()
        svc.import_articles(articles, "bench")
        load_s = time.perf_counter() - t0
        hits = {q: svc.search(q).total for q in QUERIES}  # warm-up, and what each finds
        times: dict[str, list[float]] = {q: [] for q in QUERIES}
        for _ in range(rounds):
            for q in QUERIES:
                t = time.perf_counter()
                svc.search(q)
                times[q].append((time.perf_counter() - t) * 1000)
    return {"load_s": load_s, "hits": hits, "times": times}


def report(backend: str, n: int, r: dict) -> None:
    times: dict[str, list[float]] = r["times"]  # type: ignore[assignment]
    every = [ms for ts in times.values() for ms in ts]
    print(
        f"{backend:<11} {n} articles loaded in {r['load_s']:.1f} s; {len(every)} searches: "
        f"p50 {statistics.median(every):.1f} ms  p99 {_pct(every, 99):.1f} ms  "
        f"max {max(every):.1f} ms"
    )
    by_len: dict[int, list[float]] = {}
    for q, ts in times.items():
        by_len.setdefault(len(q), []).extend(ts)
    for length, ts in sorted(by_len.items()):
        print(
            f"  {length} characters: p50 {statistics.median(ts):6.1f} ms  "
            f"p99 {_pct(ts, 99):6.1f} ms"
        )
    worst = sorted(times, key=lambda q: _pct(times[q], 99), reverse=True)[:3]
    for q in worst:
        hits = r["hits"][q]  # type: ignore[index]
        print(f"  slowest: {q} ({hits} matches) p99 {_pct(times[q], 99):.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--pg-url", default=os.environ.get("CALLCORE_BENCH_PG_URL", DEFAULT_PG_URL))
    ap.add_argument("--only", choices=["sqlite", "postgresql"])
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    articles = generate(args.articles)
    chars = statistics.mean(len(a.body) for a in articles)
    print(f"{len(articles)} articles, {chars:.0f} characters of body on average")
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    for kind in kinds:
        if kind == "postgresql" and (reason := pg_unreachable_reason(args.pg_url)):
            print(f"postgresql skipped: {reason}")
            return 1 if args.only else 0
        with (
            tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp,
            empty_store_url(kind, Path(tmp), args.pg_url, "cc_bench") as url,
        ):
            report(kind, len(articles), run(url, articles, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
