using Cdc.Checkpoint.MySql.Gtid;
using Cdc.Checkpoint.MySql.Validation;
using FsCheck;
using FsCheck.Fluent;
using Xunit;
using static Cdc.Checkpoint.MySql.Tests.Validation.ResumeFactsBuilder;

namespace Cdc.Checkpoint.MySql.Tests.Validation;

/// <summary>
/// The MySQL containment rules against a brute-force model: per source, the server executed 1..e (sometimes with one
/// transaction h missing, as after an errant transaction elsewhere) and purged 1..p (p below h and e), and the
/// checkpoint holds 1..c plus, sometimes, one stray transaction.
/// </summary>
public sealed class ResumePropertyTests
{
    private static readonly Config Many = Config.QuickThrowOnFailure.WithMaxTest(500);

    private sealed record Source(Guid Id, long Executed, long? Gap, long Purged, long Checkpoint, long? Stray)
    {
        public bool HasExecuted(long n) => n >= 1 && n <= Executed && n != Gap;
    }

    private static readonly Gen<Source> OneSource =
        from executed in Gen.Choose(1, 40)
        from gap in executed >= 3 ? Gen.Elements<int?>(null, null, 2, executed / 2 + 1) : Gen.Constant<int?>(null)
        from purged in Gen.Choose(0, gap is { } h ? h - 1 : executed)
        from checkpoint in Gen.Choose(0, 45)
        from hasStray in Gen.Elements(false, false, false, true)
        from stray in Gen.Choose(1, 50)
        select new Source(Guid.Empty, executed, gap, purged, checkpoint, hasStray ? stray : null);

    private static readonly Gen<Source[]> Sources =
        from count in Gen.Choose(1, 3)
        from sources in Gen.ArrayOf(OneSource, count)
        select sources.Select((s, i) => s with { Id = new[] { UuidA, UuidB, UuidC }[i] }).ToArray();

    private static GtidSet Range(Source[] sources, Func<Source, long> last)
    {
        var set = GtidSet.Empty;
        foreach (var source in sources.Where(s => last(s) > 0))
        {
            set = set.Add(source.Id, null, new GtidInterval(1, last(source)));
        }

        return set;
    }

    [Fact]
    public void Decide_MySqlGtidCheckpoint_AgreesWithTheModel()
    {
        FsCheck.Check.One(Many, Prop.ForAll(Arb.From(Sources), sources =>
        {
            var executed = Range(sources, s => s.Executed);
            foreach (var source in sources.Where(s => s.Gap is not null))
            {
                executed = executed.Subtract(GtidSet.Empty.Add(source.Id, source.Gap!.Value));
            }

            var purged = Range(sources, s => s.Purged);
            var checkpoint = Range(sources, s => s.Checkpoint);
            foreach (var source in sources.Where(s => s.Stray is not null))
            {
                checkpoint = checkpoint.Add(source.Id, source.Stray!.Value);
            }

            var server = MySqlServer(executed.ToString(), purged.ToString(), uuid: UuidA);
            var result = MySqlResumeValidator.Decide(new MySqlOffset(checkpoint, null, UuidA), server);

            // Model: per source, the checkpoint's transactions the server lacks, and whether one of them is below the
            // server's last transaction of that source (a hole); then the purged transactions still needed.
            var unknown = sources.SelectMany(s => Numbers(checkpoint, s.Id).Where(n => !s.HasExecuted(n)).Select(n => (s, n))).ToList();
            var holes = unknown.Where(u => u.n < u.s.Executed).ToList();
            var missing = sources.SelectMany(s => Enumerable.Range(1, (int)s.Purged).Where(n => !Numbers(checkpoint, s.Id).Contains(n))).Count();
            var expected = unknown.Count > 0
                ? holes.Count > 0 ? MySqlResumeVerdict.HistoryDiverged : MySqlResumeVerdict.CheckpointAhead
                : missing > 0 ? MySqlResumeVerdict.PositionPurged : MySqlResumeVerdict.Resume;

            return result.Verdict == expected
                && result.IsRefused == (expected != MySqlResumeVerdict.Resume)
                && (expected != MySqlResumeVerdict.PositionPurged || result.PurgedGtids!.TransactionCount == (UInt128)missing)
                && (unknown.Count == 0 || result.UnknownGtids!.TransactionCount == (UInt128)unknown.Count);
        }));
    }

    private static HashSet<long> Numbers(GtidSet set, Guid id) =>
        [.. set.Entries.Where(e => e.SourceId == id).SelectMany(e => e.Intervals).SelectMany(i => Enumerable.Range((int)i.First, (int)(i.Last - i.First + 1)).Select(n => (long)n))];
}
