using System.Collections.Immutable;
using System.Text;
using Cdc.Checkpoint.Manifests;
using Cdc.Checkpoint.Offsets;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;
using static Cdc.Checkpoint.Tests.Manifests.Manifests;

namespace Cdc.Checkpoint.Tests.Manifests;

public sealed class ManifestFormatTests
{
    private const string Where = "/data/checkpoints/checkpoint_000042/manifest.json";

    private static string GoldenPath(string name) => Path.Combine(AppContext.BaseDirectory, "Golden", "Manifests", name);

    /// <summary>The manifest pinned by Golden/Manifests/manifest-v1-full.json.</summary>
    internal static CheckpointManifest FullGoldenManifest() => new()
    {
        CheckpointId = 42,
        Epoch = 42,
        CreatedAt = new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero),
        SourceOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, SourcePosition>
        {
            ["orders"] = new(new TestSeqOffset("orders", 1_000_123), 98_765),
            ["clicks"] = new(GenericOffset.Parse("kafka", """{"topic":"clicks","partitions":{"0":1000,"1":2000}}""")),
        }),
        SinkEpochs = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, ulong> { ["warehouse"] = 41, ["search"] = 42 }),
        SinkCommitStatuses = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, SinkCommitStatus>
        {
            ["warehouse"] = SinkCommitStatus.Committed,
            ["search"] = SinkCommitStatus.Pending,
            ["archive"] = SinkCommitStatus.Failed("bucket 'cdc-archive' not found"),
        }),
        TableOffsets = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, TableOffset>
        {
            ["public.orders"] = TableOffset.FromOffset(new TestSeqOffset("orders", 999_000)),
            ["public.customers"] = TableOffset.FromText("id>10250"),
        }),
        OperatorStates = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, OperatorState>
        {
            ["dedup"] = OperatorState.FromInline("seen:1,2,3"u8),
            ["window"] = OperatorState.InSidecar(0, 11),
        }),
        StateSidecar = new StateSidecarInfo(FileManifestStore.Sha256Hex("window-data"u8), 11),
        Watermark = 1_741_064_767_000,
    };

    [Fact]
    public void Serialize_FullManifest_MatchesTheGoldenFileByteForByte()
    {
        var golden = File.ReadAllBytes(GoldenPath("manifest-v1-full.json"));

        Encoding.UTF8.GetString(ManifestFormat.Serialize(FullGoldenManifest())).ShouldBe(Encoding.UTF8.GetString(golden));
    }

    [Fact]
    public void Parse_FullGoldenFile_ReadsEveryField()
    {
        var manifest = ManifestFormat.Parse(File.ReadAllBytes(GoldenPath("manifest-v1-full.json")), "golden", Codecs, expectedId: 42);

        manifest.FormatVersion.ShouldBe(1);
        manifest.CheckpointId.ShouldBe(42UL);
        manifest.Epoch.ShouldBe(42UL);
        manifest.CreatedAt.ShouldBe(new DateTimeOffset(2025, 3, 4, 5, 6, 7, 890, TimeSpan.Zero));
        manifest.SourceOffsets["orders"].ShouldBe(new SourcePosition(new TestSeqOffset("orders", 1_000_123), 98_765));
        manifest.SourceOffsets["orders"].Offset.ShouldBeOfType<TestSeqOffset>();
        manifest.SourceOffsets["clicks"].Offset.ShouldBeOfType<GenericOffset>().SourceType.ShouldBe("kafka");
        manifest.SinkEpochs.ShouldBe(FullGoldenManifest().SinkEpochs);
        manifest.SinkCommitStatuses["archive"].ShouldBe(SinkCommitStatus.Failed("bucket 'cdc-archive' not found"));
        manifest.SinkCommitStatuses["search"].ShouldBe(SinkCommitStatus.Pending);
        manifest.TableOffsets["public.orders"].ShouldBe(TableOffset.FromOffset(new TestSeqOffset("orders", 999_000)));
        manifest.TableOffsets["public.customers"].ShouldBe(TableOffset.FromText("id>10250"));
        manifest.OperatorStates["dedup"].Inline.ToArray().ShouldBe("seen:1,2,3"u8.ToArray());
        manifest.OperatorStates["window"].IsInSidecar.ShouldBeTrue();
        manifest.OperatorStates["window"].SidecarLength.ShouldBe(11);
        manifest.StateSidecar.ShouldBe(FullGoldenManifest().StateSidecar);
        manifest.Watermark.ShouldBe(1_741_064_767_000);
    }

    [Fact]
    public void Parse_FullGoldenFileWithoutCodecs_KeepsUnknownTypesAsGenericOffsets()
    {
        var manifest = ManifestFormat.Parse(File.ReadAllBytes(GoldenPath("manifest-v1-full.json")), "golden", OffsetCodecRegistry.Empty);

        var orders = manifest.SourceOffsets["orders"].Offset.ShouldBeOfType<GenericOffset>();
        orders.SourceType.ShouldBe(TestSeqOffset.Type);
        orders.ToJsonString().ShouldBe("""{"stream":"orders","seq":1000123}""");
        Encoding.UTF8.GetString(ManifestFormat.Serialize(manifest)).ShouldBe(File.ReadAllText(GoldenPath("manifest-v1-full.json")));
    }

    [Fact]
    public void Parse_MinimalGoldenFile_DefaultsEveryOptionalField()
    {
        var manifest = ManifestFormat.Parse(File.ReadAllBytes(GoldenPath("manifest-v1-minimal.json")), "golden", Codecs);

        manifest.CheckpointId.ShouldBe(1UL);
        manifest.SourceOffsets.ShouldBeEmpty();
        manifest.SinkEpochs.ShouldBeEmpty();
        manifest.SinkCommitStatuses.ShouldBeEmpty();
        manifest.TableOffsets.ShouldBeEmpty();
        manifest.OperatorStates.ShouldBeEmpty();
        manifest.StateSidecar.ShouldBeNull();
        manifest.Watermark.ShouldBeNull();
    }

    [Fact]
    public void Parse_UnknownFieldsAndSourceTypes_AreToleratedAndKept()
    {
        var manifest = ManifestFormat.Parse(File.ReadAllBytes(GoldenPath("manifest-v1-unknown-fields.json")), "golden", Codecs);

        manifest.SourceOffsets["legacy"].Offset.ShouldBeOfType<GenericOffset>().SourceType.ShouldBe("oracle");
        manifest.SourceOffsets["legacy"].Offset.ToJsonString().ShouldBe("""{"scn":"123456789"}""");
    }

    [Fact]
    public void Serialize_SameContentBuiltInAnotherOrder_GivesTheSameBytes()
    {
        var a = FullGoldenManifest();
        var b = new CheckpointManifest
        {
            CheckpointId = a.CheckpointId,
            Epoch = a.Epoch,
            CreatedAt = a.CreatedAt.ToOffset(TimeSpan.FromHours(2)),
            SourceOffsets = a.SourceOffsets.Reverse().ToImmutableSortedDictionary(StringComparer.OrdinalIgnoreCase),
            SinkEpochs = a.SinkEpochs,
            SinkCommitStatuses = a.SinkCommitStatuses,
            TableOffsets = a.TableOffsets,
            OperatorStates = a.OperatorStates,
            StateSidecar = a.StateSidecar,
            Watermark = a.Watermark,
        };

        ManifestFormat.Serialize(b).ShouldBe(ManifestFormat.Serialize(a));
    }

    [Theory]
    [InlineData("""{"format_version":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""", "checkpoint_id is missing")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"created_at":"2025-01-01T00:00:00Z"}""", "epoch is missing")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1}""", "created_at is missing")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":"one","created_at":"2025-01-01T00:00:00Z"}""", "$.epoch")]
    [InlineData("""{"format_version":1,"checkpoint_id":-1,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""", "$.checkpoint_id")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"checkpoint_id":2,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""", "not valid JSON")]
    [InlineData("""[1,2]""", "not a JSON object")]
    [InlineData("""{"format_version":1,"checkpoint_id":1""", "not valid JSON")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","source_offsets":{"a":{"source_type":"Bad Type","offset":1}}}""", "not a valid source type")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","source_offsets":{"a":{"source_type":"kafka"}}}""", "source_offsets.a.offset is missing")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","source_offsets":{"a":{"source_type":"test_seq","offset":{"seq":1}}}}""", "invalid test_seq offset")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","sink_commit_statuses":{"s":{"state":"done"}}}""", "expected pending, committed or failed")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","table_offsets":{"t":{"text":"x","source_type":"kafka","offset":1}}}""", "both text and offset")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","operator_states":{"o":{"inline":"AAE=","sidecar_offset":0,"sidecar_length":1}}}""", "either inline or sidecar")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","operator_states":{"o":{"sidecar_offset":0,"sidecar_length":1}}}""", "declares no state_sidecar")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","operator_states":{"o":{"sidecar_offset":5,"sidecar_length":10}},"state_sidecar":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000","size_bytes":12}}""", "outside the 12-byte sidecar")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","state_sidecar":{"sha256":"XYZ","size_bytes":12}}""", "not 64 lower-case hex digits")]
    [InlineData("""{"format_version":1,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z","operator_states":{"o":{"inline":"not base64!"}}}""", "operator_states")]
    public void Parse_DamagedManifest_ThrowsCorruptNamingTheFileAndTheField(string json, string expected)
    {
        var ex = Should.Throw<CheckpointException>(() => ManifestFormat.Parse(Encoding.UTF8.GetBytes(json), Where, Codecs));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.Corrupt);
        ex.Message.ShouldContain(Where);
        ex.Message.ShouldContain(expected);
        ex.Path.ShouldBe(Where);
    }

    [Theory]
    [InlineData("""{"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""", "has no format_version")]
    [InlineData("""{"format_version":"1","checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""", "unsupported format_version \"1\"")]
    [InlineData("""{"format_version":0,"checkpoint_id":1,"epoch":1,"created_at":"2025-01-01T00:00:00Z"}""", "unsupported format_version 0")]
    [InlineData("""{"format_version":7,"whatever":"a future shape"}""", "unsupported format_version 7")]
    public void Parse_UnsupportedVersion_ThrowsUnsupportedFormatVersionNamingTheSupportedOnes(string json, string expected)
    {
        var ex = Should.Throw<CheckpointException>(() => ManifestFormat.Parse(Encoding.UTF8.GetBytes(json), Where, Codecs));

        ex.ErrorCode.ShouldBe(CheckpointErrorCode.UnsupportedFormatVersion);
        ex.Message.ShouldContain(expected);
        ex.Message.ShouldContain("supported versions are 1");
        ex.Message.ShouldContain(Where);
    }

    [Fact]
    public void Serialize_InvalidName_ThrowsArgumentException()
    {
        var manifest = new CheckpointManifest
        {
            CheckpointId = 1,
            Epoch = 1,
            CreatedAt = T0,
            SinkEpochs = ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create("bad\u0001sink", 1UL)]),
        };

        Should.Throw<ArgumentException>(() => ManifestFormat.Serialize(manifest)).Message.ShouldContain("sink name");
    }

    [Fact]
    public void Property_RandomManifests_RoundTripThroughJsonUnchanged()
    {
        var names = Gen.Elements("a", "orders", "public.orders", "Ünïcødé name", "x y", "kafka-src", "sink/1");
        var sourceGen =
            from name in names
            from stream in Gen.Elements("s1", "s2")
            from seq in Gen.Choose(0, int.MaxValue)
            from count in Gen.Choose(0, 1000)
            from typed in Gen.Elements(true, false)
            select (name, new SourcePosition(
                typed ? new TestSeqOffset(stream, (ulong)seq) : GenericOffset.Parse("kafka", $"{{\"p\":{seq}}}"),
                (ulong)count));
        var manifestGen =
            from id in Gen.Choose(1, int.MaxValue)
            from epoch in Gen.Choose(1, int.MaxValue)
            from seconds in Gen.Choose(0, 2_000_000_000)
            from sources in Gen.ListOf(sourceGen)
            from sinks in Gen.ListOf(Gen.Zip(names, Gen.Choose(0, 100), (n, e) => (n, e)))
            from statuses in Gen.ListOf(Gen.Zip(names, Gen.Elements(SinkCommitStatus.Pending, SinkCommitStatus.Committed, SinkCommitStatus.Failed("why \"quoted\"")), (n, v) => (n, v)))
            from tables in Gen.ListOf(Gen.Zip(names, Gen.Elements(TableOffset.FromText("pk>1"), TableOffset.FromOffset(new TestSeqOffset("t", 3))), (n, v) => (n, v)))
            from states in Gen.ListOf(Gen.Zip(names, Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b)), (n, v) => (n, v)))
            from watermark in Gen.Elements<long?>(null, -5, 0, long.MaxValue)
            select new CheckpointManifest
            {
                CheckpointId = (ulong)id,
                Epoch = (ulong)epoch,
                CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(seconds * 1000L + 123),
                SourceOffsets = Distinct(sources, s => s),
                SinkEpochs = Distinct(sinks, s => (ulong)s),
                SinkCommitStatuses = Distinct(statuses, s => s),
                TableOffsets = Distinct(tables, s => s),
                OperatorStates = Distinct(states, s => OperatorState.FromInline(s)),
                Watermark = watermark,
            };

        Prop.ForAll(Arb.From(manifestGen), manifest =>
        {
            var bytes = ManifestFormat.Serialize(manifest);
            var parsed = ManifestFormat.Parse(bytes, "property", Codecs, manifest.CheckpointId);
            return ManifestFormat.Serialize(parsed).AsSpan().SequenceEqual(bytes)
                && parsed.SourceOffsets.SequenceEqual(manifest.SourceOffsets)
                && parsed.CreatedAt == manifest.CreatedAt
                && parsed.Watermark == manifest.Watermark;
        }).QuickCheckThrowOnFailure();

        static ImmutableSortedDictionary<string, T> Distinct<TValue, T>(IEnumerable<(string Name, TValue Value)> items, Func<TValue, T> value) =>
            items.GroupBy(i => i.Name).ToImmutableSortedDictionary(g => g.Key, g => value(g.First().Value), StringComparer.Ordinal);
    }
}
