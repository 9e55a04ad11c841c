using Cdc.Checkpoint.Conformance;
using Cdc.Checkpoint.Files;
using Cdc.Checkpoint.Offsets;
using FsCheck;
using FsCheck.Fluent;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Files;

public sealed class ProgressPropertyTests
{
    private static readonly Gen<(ulong Position, ulong Count, bool OtherStream)> Attempt =
        from position in Gen.Choose(0, 60)
        from count in Gen.Choose(0, 60)
        from other in Gen.Frequency((9, Gen.Constant(false)), (1, Gen.Constant(true)))
        select ((ulong)position, (ulong)count, other);

    [Fact]
    public void ProgressGuard_AnySequenceOfAttempts_AcceptedSavesNeverRegress()
    {
        Prop.ForAll(Arb.From(Gen.ListOf(Attempt)), attempts =>
        {
            CheckpointRecord? stored = null;
            foreach (var (position, count, other) in attempts)
            {
                var offset = new ConformanceOffset(position, other ? "other" : "main");
                try
                {
                    if (ProgressGuard.Check("prop", stored, offset, count) == ProgressGuard.Verdict.Advance)
                    {
                        if (stored is not null)
                        {
                            count.ShouldBeGreaterThan(stored.CommittedEventCount);
                            offset.CompareTo(stored.Offset).ShouldBeOneOf(OffsetOrder.After, OffsetOrder.Same);
                        }

                        stored = new CheckpointRecord(offset.SourceType, count, offset);
                    }
                    else
                    {
                        stored.ShouldNotBeNull().Offset.ShouldBe(offset);
                        stored.CommittedEventCount.ShouldBe(count);
                    }
                }
                catch (CheckpointException ex)
                {
                    ex.ErrorCode.ShouldBeOneOf(CheckpointErrorCode.OffsetRegression, CheckpointErrorCode.ConflictingOffset, CheckpointErrorCode.OffsetDiverged);
                }
            }
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void FileCheckpoint_RandomSaveSequences_StoredRecordIsTheLastAcceptedAndNeverRegresses()
    {
        var options = new FileCheckpointOptions { Codecs = OffsetCodecRegistry.Empty.With(ConformanceOffset.OffsetCodec) };
        var config = Config.QuickThrowOnFailure.WithMaxTest(40);
        Check.One(config, Prop.ForAll(Arb.From(Gen.ListOf(Attempt).Select(l => l.Take(25).ToList())), attempts =>
        {
            using var dir = new TempDirectory();
            (ulong Position, ulong Count)? lastAccepted = null;
            using (var checkpoint = new FileCheckpoint(dir.Path, options))
            {
                foreach (var (position, count, other) in attempts)
                {
                    try
                    {
                        checkpoint.SaveAsync(new ConformanceOffset(position, other ? "other" : "main"), count).AsTask().GetAwaiter().GetResult();
                        if (lastAccepted is { } last)
                        {
                            count.ShouldBeGreaterThanOrEqualTo(last.Count);
                            position.ShouldBeGreaterThanOrEqualTo(last.Position);
                        }

                        lastAccepted = (position, count);
                    }
                    catch (CheckpointException)
                    {
                        // refused: nothing written
                    }
                }
            }

            using var reopened = new FileCheckpoint(dir.Path, options);
            var record = reopened.LoadAsync(ConformanceOffset.Source).AsTask().GetAwaiter().GetResult();
            if (lastAccepted is { } final)
            {
                record.ShouldNotBeNull().CommittedEventCount.ShouldBe(final.Count);
                record.Offset.ShouldBeOfType<ConformanceOffset>().Position.ShouldBe(final.Position);
            }
            else
            {
                record.ShouldBeNull();
            }
        }));
    }
}
