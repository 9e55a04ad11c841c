using System.Text;
using Cdc.Checkpoint.Manifests;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

public sealed class RecoveryPropertyTests
{
    internal enum Damage
    {
        None,
        GarbageJson,
        Truncated,
        FutureVersion,
        WrongIdInside,
        EpochZero,
        SidecarMissing,
        SidecarFlipped,
        SidecarTruncated,
        ManifestDeleted,
    }

    internal enum PointerMode
    {
        AsWritten,
        Deleted,
        Garbage,
        Oldest,
    }

    internal sealed record Scenario(IReadOnlyList<(ulong Id, Damage Damage)> Checkpoints, PointerMode LatestPointer)
    {
        public override string ToString() => $"[{string.Join(", ", Checkpoints.Select(c => $"{c.Id}:{c.Damage}"))}] pointer {LatestPointer}";
    }

    private static Gen<Scenario> Cases()
    {
        var damage = Gen.Frequency(
            (6, Gen.Constant(Damage.None)),
            (1, Gen.Elements(Enum.GetValues<Damage>())));
        var checkpoint = Gen.Zip(Gen.Choose(1, 3), damage, (gap, d) => (Gap: gap, Damage: d));
        return from list in Gen.Choose(0, 7).SelectMany(n => Gen.ListOf(checkpoint, n))
               from pointer in Gen.Elements(Enum.GetValues<PointerMode>())
               select new Scenario(Ids(list), pointer);

        static IReadOnlyList<(ulong, Damage)> Ids(IEnumerable<(int Gap, Damage Damage)> list)
        {
            var result = new List<(ulong, Damage)>();
            ulong id = 0;
            foreach (var (gap, d) in list)
            {
                id += (ulong)gap;
                result.Add((id, d));
            }

            return result;
        }
    }

    [Fact]
    public void Property_RecoveryAlwaysPicksTheNewestValidCheckpointAndReportsEveryNewerOne()
    {
        Check.One(
            Config.QuickThrowOnFailure.WithMaxTest(60),
            Prop.ForAll(Arb.From(Cases()), c =>
            {
                using var dir = new TempDirectory();
                var writer = Store(dir, retain: 0);
                foreach (var (id, _) in c.Checkpoints)
                {
                    writer.SaveAsync(Make(id, id), Encoding.UTF8.GetBytes($"state-{id}")).AsTask().GetAwaiter().GetResult();
                }

                foreach (var (id, damage) in c.Checkpoints)
                {
                    Apply(dir, writer, id, damage);
                }

                ulong? pointer = c.Checkpoints.Count == 0 ? null : c.Checkpoints[^1].Id;
                switch (c.LatestPointer)
                {
                    case PointerMode.Deleted when c.Checkpoints.Count > 0:
                        File.Delete(writer.LatestPointerPath);
                        pointer = null;
                        break;
                    case PointerMode.Garbage when c.Checkpoints.Count > 0:
                        WritePrivate(writer.LatestPointerPath, "not-an-id");
                        pointer = null;
                        break;
                    case PointerMode.Oldest when c.Checkpoints.Count > 0:
                        WritePrivate(writer.LatestPointerPath, $"{c.Checkpoints[0].Id}\n");
                        pointer = c.Checkpoints[0].Id;
                        break;
                }

                var present = c.Checkpoints.Where(x => x.Damage != Damage.ManifestDeleted).Select(x => x.Id).ToList();
                var valid = c.Checkpoints.Where(x => x.Damage == Damage.None).Select(x => x.Id).ToList();
                var reader = Store(dir, retain: 0);
                ManifestRecovery? recovery;
                try
                {
                    recovery = reader.RecoverLatestValidAsync().AsTask().GetAwaiter().GetResult();
                }
                catch (CheckpointException ex) when (ex.ErrorCode == CheckpointErrorCode.Corrupt)
                {
                    // Refusing is right only when history exists (a manifest, or a pointer naming one) and none is valid.
                    return valid.Count == 0 && (present.Count > 0 || pointer is not null);
                }

                if (recovery is null)
                {
                    return present.Count == 0 && pointer is null;
                }

                var expected = valid.Max();
                var expectedSkipped = present.Where(id => id > expected).ToHashSet();
                if (pointer is { } p && !present.Contains(p))
                {
                    expectedSkipped.Add(p);
                }

                return recovery.Manifest.CheckpointId == expected
                    && recovery.Skipped.Select(s => s.CheckpointId).ToHashSet().SetEquals(expectedSkipped)
                    && recovery.Skipped.All(s => s.Reason.Length > 0)
                    && recovery.HighestCheckpointId >= c.Checkpoints[^1].Id;
            }));
    }

    private static void Apply(TempDirectory dir, FileManifestStore store, ulong id, Damage damage)
    {
        var manifest = ManifestPath(dir, id);
        var sidecar = Path.Combine(store.GetCheckpointDirectory(id), "state.bin");
        switch (damage)
        {
            case Damage.GarbageJson:
                WritePrivate(manifest, "{ torn");
                break;
            case Damage.Truncated:
                var bytes = File.ReadAllBytes(manifest);
                WritePrivate(manifest, bytes[..(bytes.Length / 2)]);
                break;
            case Damage.FutureVersion:
                WritePrivate(manifest, File.ReadAllText(manifest).Replace("\"format_version\": 1", "\"format_version\": 99", StringComparison.Ordinal));
                break;
            case Damage.WrongIdInside:
                WritePrivate(manifest, File.ReadAllText(manifest).Replace($"\"checkpoint_id\": {id},", $"\"checkpoint_id\": {id + 1000},", StringComparison.Ordinal));
                break;
            case Damage.EpochZero:
                WritePrivate(manifest, File.ReadAllText(manifest).Replace($"\"epoch\": {id},", "\"epoch\": 0,", StringComparison.Ordinal));
                break;
            case Damage.SidecarMissing:
                File.Delete(sidecar);
                break;
            case Damage.SidecarFlipped:
                var state = File.ReadAllBytes(sidecar);
                state[0] ^= 0x20;
                WritePrivate(sidecar, state);
                break;
            case Damage.SidecarTruncated:
                WritePrivate(sidecar, File.ReadAllBytes(sidecar)[..^1]);
                break;
            case Damage.ManifestDeleted:
                File.Delete(manifest);
                break;
        }
    }

    [Fact]
    public void Generator_ProducesEveryDamageKindAndPointerMode()
    {
        // Guards the property above against a generator that silently stopped producing some cases.
        var samples = Cases().Sample(500);
        samples.SelectMany(c => c.Checkpoints.Select(x => x.Damage)).Distinct().ShouldBe(Enum.GetValues<Damage>(), ignoreOrder: true);
        samples.Select(c => c.LatestPointer).Distinct().ShouldBe(Enum.GetValues<PointerMode>(), ignoreOrder: true);
        samples.ShouldContain(c => c.Checkpoints.Count == 0);
    }
}
