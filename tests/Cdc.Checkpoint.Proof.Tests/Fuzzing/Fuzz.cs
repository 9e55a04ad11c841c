using System.Globalization;
using FsCheck;
using FsCheck.Fluent;

namespace Cdc.Checkpoint.Proof.Tests.Fuzzing;

/// <summary>What a fuzz run of one parser saw.</summary>
public sealed class FuzzStats(string parser)
{
    public string Parser { get; } = parser;

    public long Cases { get; set; }

    public long Accepted { get; set; }

    public long Rejected { get; set; }

    public long MaxInputBytes { get; set; }

    public long MaxAllocatedBytes { get; set; }

    /// <summary>The largest bytes allocated ÷ input length seen, for inputs of at least 256 bytes.</summary>
    public double MaxAllocationPerInputByte { get; set; }

    public override string ToString() => string.Create(
        CultureInfo.InvariantCulture,
        $"{Parser}: {Cases} cases, {Accepted} accepted, {Rejected} rejected with a typed error; largest input {MaxInputBytes} B, most allocated by one parse {MaxAllocatedBytes} B (at most {MaxAllocationPerInputByte:F1} B per input byte for inputs of 256 B or more)");
}

/// <summary>Thrown from a property when a parser breaks its contract; FsCheck reports it with the input.</summary>
public sealed class FuzzFailureException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Runs one parser over FsCheck-generated inputs. The contract checked for every input: the parser returns, or throws
/// an exception its contract allows (never IndexOutOfRange, Overflow, NullReference, InvalidOperation, a raw
/// JsonException …); an accepted input survives its own round trip; and one parse allocates at most
/// <c>allocationBound(input length)</c> bytes, so no length field can make a reader allocate beyond its input.
/// </summary>
public static class Fuzz
{
    /// <param name="parser">The parser's name, for messages.</param>
    /// <param name="inputs">The input generator.</param>
    /// <param name="parse">Parses one input and returns what it parsed (only this call is measured).</param>
    /// <param name="roundTrip">Checks an accepted value survives format → parse unchanged; throws when not.</param>
    /// <param name="allowed">Whether an exception is one the parser's contract allows.</param>
    /// <param name="allocationBound">The most one parse may allocate for an input of the given length.</param>
    /// <param name="cases">How many inputs.</param>
    public static FuzzStats Run(string parser, Gen<FuzzCase> inputs, Func<byte[], object?> parse, Action<object?> roundTrip, Func<Exception, bool> allowed, Func<long, long> allocationBound, int cases)
    {
        var stats = new FuzzStats(parser);
        var config = Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true).WithEndSize(200);
        Check.One(config, Prop.ForAll(Arb.From(inputs), input => RunOne(parser, input, parse, roundTrip, allowed, allocationBound, stats)));
        return stats;
    }

    private static void RunOne(string parser, FuzzCase input, Func<byte[], object?> parse, Action<object?> roundTrip, Func<Exception, bool> allowed, Func<long, long> allocationBound, FuzzStats stats)
    {
        var (accepted, value, allocated) = Measure(parser, input, parse, allowed);
        var bound = allocationBound(input.Bytes.Length);
        if (allocated > bound)
        {
            // The first parse down a new path also pays one-time costs (static initialisers, resource strings):
            // judge the steady state.
            (accepted, value, allocated) = Measure(parser, input, parse, allowed);
            if (allocated > bound)
            {
                throw new FuzzFailureException($"{parser} allocated {allocated} bytes for a {input.Bytes.Length}-byte input (bound {bound}): {input}");
            }
        }

        stats.Cases++;
        if (accepted)
        {
            try
            {
                roundTrip(value);
            }
            catch (Exception ex)
            {
                throw new FuzzFailureException($"{parser} accepted an input that does not survive its round trip ({ex.GetType().Name}: {ex.Message}): {input}", ex);
            }

            stats.Accepted++;
        }
        else
        {
            stats.Rejected++;
        }

        stats.MaxInputBytes = Math.Max(stats.MaxInputBytes, input.Bytes.Length);
        stats.MaxAllocatedBytes = Math.Max(stats.MaxAllocatedBytes, allocated);
        if (input.Bytes.Length >= 256)
        {
            stats.MaxAllocationPerInputByte = Math.Max(stats.MaxAllocationPerInputByte, allocated / (double)input.Bytes.Length);
        }
    }

    private static (bool Accepted, object? Value, long Allocated) Measure(string parser, FuzzCase input, Func<byte[], object?> parse, Func<Exception, bool> allowed)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        bool accepted;
        object? value = null;
        try
        {
            value = parse(input.Bytes);
            accepted = true;
        }
        catch (FuzzFailureException)
        {
            throw;
        }
        catch (Exception ex) when (allowed(ex))
        {
            accepted = false;
        }
        catch (Exception ex)
        {
            throw new FuzzFailureException($"{parser} threw {ex.GetType().FullName}: {ex.Message} for {input}", ex);
        }

        return (accepted, value, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
