using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Cdc.Checkpoint.Streaming;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Tests.Streaming;

public sealed class StreamChangelogTests
{
    private static StreamChangelogEntry Entry(ulong sequence, StreamChangeOp op = StreamChangeOp.Insert) => new(0, op, sequence, long.MinValue);

    [Fact]
    public void Entry_Size_IsExactly24Bytes()
    {
        Unsafe.SizeOf<StreamChangelogEntry>().ShouldBe(24);
        Marshal.SizeOf<StreamChangelogEntry>().ShouldBe(24);
        StreamChangelogEntry.Size.ShouldBe(24);
    }

    [Fact]
    public void Entry_Layout_MatchesDocumentedOffsets()
    {
        var entry = new StreamChangelogEntry(0x0102, StreamChangeOp.Delete, 0x1122334455667788, -2);
        var bytes = MemoryMarshal.AsBytes(new ReadOnlySpan<StreamChangelogEntry>(in entry)).ToArray();
        bytes.ShouldBe(new byte[]
        {
            0x02, 0x01, 2, 0, 0, 0, 0, 0,
            0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
            0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        });
    }

    [Fact]
    public void Entry_Constructor_KeepsFields()
    {
        var entry = new StreamChangelogEntry(7, StreamChangeOp.Watermark, 42, 5000);
        entry.SourceId.ShouldBe((ushort)7);
        entry.OpCode.ShouldBe((byte)3);
        entry.TryGetOp(out var op).ShouldBeTrue();
        op.ShouldBe(StreamChangeOp.Watermark);
        entry.Sequence.ShouldBe(42ul);
        entry.Watermark.ShouldBe(5000);
    }

    [Fact]
    public void Entry_UndefinedOp_IsRejected() =>
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamChangelogEntry(0, (StreamChangeOp)200, 1, 1));

    [Fact]
    public void TryGetOp_EveryByte_OnlyDefinedValuesConvert()
    {
        for (var value = 0; value <= byte.MaxValue; value++)
        {
            var defined = StreamChangelogEntry.TryGetOp((byte)value, out var op);
            defined.ShouldBe(Enum.IsDefined((StreamChangeOp)value), $"byte {value}");
            if (defined)
            {
                ((byte)op).ShouldBe((byte)value);
            }
        }
    }

    [Fact]
    public void TryGetOp_EntryReadFromRawBytes_ReportsUndefinedOp()
    {
        var raw = new byte[24];
        raw[2] = 99;
        var entry = MemoryMarshal.Read<StreamChangelogEntry>(raw);
        entry.TryGetOp(out _).ShouldBeFalse();
        entry.OpCode.ShouldBe((byte)99);
    }

    [Fact]
    public void PushPop_OneEntry_RoundTrips()
    {
        var buffer = new StreamChangelogBuffer(4, ChangelogOverflowPolicy.DropNew);
        buffer.IsEmpty.ShouldBeTrue();
        buffer.TryPush(Entry(1)).ShouldBeTrue();
        buffer.Count.ShouldBe(1);
        buffer.TryPop(out var popped).ShouldBeTrue();
        popped.Sequence.ShouldBe(1ul);
        buffer.IsEmpty.ShouldBeTrue();
        buffer.TryPop(out _).ShouldBeFalse();
    }

    [Fact]
    public void TryPush_DropNewWhenFull_DropsNewestAndCounts()
    {
        var buffer = new StreamChangelogBuffer(2, ChangelogOverflowPolicy.DropNew);
        buffer.TryPush(Entry(1)).ShouldBeTrue();
        buffer.TryPush(Entry(2)).ShouldBeTrue();
        buffer.IsFull.ShouldBeTrue();
        buffer.TryPush(Entry(3)).ShouldBeFalse();
        buffer.OverflowCount.ShouldBe(1ul);
        buffer.TryPop(out var first).ShouldBeTrue();
        first.Sequence.ShouldBe(1ul);
        buffer.TryPop(out var second).ShouldBeTrue();
        second.Sequence.ShouldBe(2ul);
    }

    [Fact]
    public void TryPush_OverwriteOldestWhenFull_DiscardsOldestAndCounts()
    {
        var buffer = new StreamChangelogBuffer(2, ChangelogOverflowPolicy.OverwriteOldest);
        buffer.TryPush(Entry(1)).ShouldBeTrue();
        buffer.TryPush(Entry(2)).ShouldBeTrue();
        buffer.TryPush(Entry(3)).ShouldBeTrue();
        buffer.OverflowCount.ShouldBe(1ul);
        buffer.Count.ShouldBe(2);
        buffer.TryPop(out var first).ShouldBeTrue();
        first.Sequence.ShouldBe(2ul);
        buffer.TryPop(out var second).ShouldBeTrue();
        second.Sequence.ShouldBe(3ul);
    }

    [Fact]
    public void TryPush_OverwriteOldestManyTimes_KeepsNewestInOrder()
    {
        var buffer = new StreamChangelogBuffer(3, ChangelogOverflowPolicy.OverwriteOldest);
        for (ulong i = 1; i <= 10; i++)
        {
            buffer.TryPush(Entry(i));
        }

        buffer.OverflowCount.ShouldBe(7ul);
        var all = new List<StreamChangelogEntry>();
        buffer.DrainAll(all).ShouldBe(3);
        all.Select(e => e.Sequence).ShouldBe([8ul, 9ul, 10ul]);
    }

    [Fact]
    public void Drain_AcrossWrapAround_ReturnsOldestFirstUpToMax()
    {
        var buffer = new StreamChangelogBuffer(4);
        for (ulong i = 1; i <= 3; i++)
        {
            buffer.TryPush(Entry(i));
        }

        buffer.TryPop(out _);
        buffer.TryPop(out _);
        for (ulong i = 4; i <= 6; i++)
        {
            buffer.TryPush(Entry(i));
        }

        // The buffered run 3,4,5,6 now wraps around the end of the array.
        Span<StreamChangelogEntry> destination = stackalloc StreamChangelogEntry[8];
        buffer.Drain(3, destination).ShouldBe(3);
        destination[..3].ToArray().Select(e => e.Sequence).ShouldBe([3ul, 4ul, 5ul]);
        buffer.Count.ShouldBe(1);
        buffer.Drain(10, destination).ShouldBe(1);
        destination[0].Sequence.ShouldBe(6ul);
        buffer.IsEmpty.ShouldBeTrue();
    }

    [Fact]
    public void Drain_DestinationSmallerThanMax_MovesOnlyWhatFits()
    {
        var buffer = new StreamChangelogBuffer(8);
        for (ulong i = 1; i <= 5; i++)
        {
            buffer.TryPush(Entry(i));
        }

        var destination = new StreamChangelogEntry[2];
        buffer.Drain(int.MaxValue, destination).ShouldBe(2);
        buffer.Count.ShouldBe(3);
        buffer.TryPeek(out var next).ShouldBeTrue();
        next.Sequence.ShouldBe(3ul);
    }

    [Fact]
    public void Capacity_Properties_AreReported()
    {
        var buffer = new StreamChangelogBuffer(5, ChangelogOverflowPolicy.OverwriteOldest);
        buffer.Capacity.ShouldBe(5);
        buffer.OverflowPolicy.ShouldBe(ChangelogOverflowPolicy.OverwriteOldest);
        buffer.IsFull.ShouldBeFalse();
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    public void Constructor_NonPositiveCapacity_Throws(int capacity) =>
        Should.Throw<ArgumentOutOfRangeException>(() => new StreamChangelogBuffer(capacity));

    [Fact]
    public void PushPopDrain_AfterConstruction_AllocateNothing()
    {
        var buffer = new StreamChangelogBuffer(64, ChangelogOverflowPolicy.OverwriteOldest);
        var entry = new StreamChangelogEntry(1, StreamChangeOp.Update, 1, 1);
        Span<StreamChangelogEntry> destination = stackalloc StreamChangelogEntry[16];
        ulong sum = 0;

        void Loop(Span<StreamChangelogEntry> span)
        {
            for (var i = 0; i < 10_000; i++)
            {
                buffer.TryPush(entry);
                buffer.TryPush(entry);
                if (buffer.TryPop(out var popped))
                {
                    sum += popped.Sequence;
                }

                if ((i & 31) == 0)
                {
                    sum += (ulong)buffer.Drain(16, span);
                }
            }
        }

        Loop(destination); // warm up (JIT, tiering)
        var before = GC.GetAllocatedBytesForCurrentThread();
        Loop(destination);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        allocated.ShouldBe(0);
        sum.ShouldBeGreaterThan(0ul);
    }

    [Fact]
    public void TryPushRange_DropNew_StoresWhatFitsNumbersEveryEntryAndCountsTheRest()
    {
        var buffer = new StreamChangelogBuffer(3, ChangelogOverflowPolicy.DropNew, firstPosition: 10);
        buffer.TryPush(Entry(1));

        buffer.TryPushRange([Entry(2), Entry(3), Entry(4), Entry(5)], out var first).ShouldBe(2);

        first.ShouldBe(11ul);
        buffer.NextPosition.ShouldBe(15ul); // the two dropped entries used positions 13 and 14
        buffer.OverflowCount.ShouldBe(2ul);
        buffer.VisibilityEpoch.ShouldBe(3ul);
        var all = new List<StreamChangelogEntry>();
        buffer.DrainAll(all);
        all.Select(e => e.Sequence).ShouldBe([1ul, 2ul, 3ul]);
    }

    [Fact]
    public void TryPushRange_OverwriteOldest_MatchesOneTryPushPerEntry()
    {
        var ranged = new StreamChangelogBuffer(4, ChangelogOverflowPolicy.OverwriteOldest);
        var single = new StreamChangelogBuffer(4, ChangelogOverflowPolicy.OverwriteOldest);
        var entries = Enumerable.Range(1, 11).Select(i => Entry((ulong)i)).ToArray();

        ranged.TryPushRange(entries.AsSpan(0, 3), out var first).ShouldBe(3);
        ranged.TryPushRange(entries.AsSpan(3), out var second).ShouldBe(8);
        foreach (var entry in entries)
        {
            single.TryPush(entry).ShouldBeTrue();
        }

        (first, second).ShouldBe((0ul, 3ul));
        (ranged.NextPosition, ranged.OverflowCount, ranged.VisibilityEpoch, ranged.Count)
            .ShouldBe((single.NextPosition, single.OverflowCount, single.VisibilityEpoch, single.Count));
        var fromRanged = new List<StreamChangelogEntry>();
        var fromSingle = new List<StreamChangelogEntry>();
        ranged.DrainAll(fromRanged);
        single.DrainAll(fromSingle);
        fromRanged.ShouldBe(fromSingle);
        fromRanged.Select(e => e.Sequence).ShouldBe([8ul, 9ul, 10ul, 11ul]);
    }

    [Fact]
    public void TryPushRange_PastTheLastPosition_PushesNothingAndThrows()
    {
        var buffer = new StreamChangelogBuffer(8, ChangelogOverflowPolicy.OverwriteOldest, firstPosition: ulong.MaxValue - 2);

        Should.Throw<InvalidOperationException>(() => buffer.TryPushRange([Entry(1), Entry(2), Entry(3)], out _));

        buffer.Count.ShouldBe(0);
        buffer.NextPosition.ShouldBe(ulong.MaxValue - 2);
        buffer.TryPushRange([Entry(1), Entry(2)], out var first).ShouldBe(2);
        first.ShouldBe(ulong.MaxValue - 2);
        buffer.TryPushRange([], out _).ShouldBe(0);
        Should.Throw<InvalidOperationException>(() => buffer.TryPush(Entry(3)));
    }
}
