using System.Globalization;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Cdc.Checkpoint.Benchmarks.Streaming;

/// <summary>Adds "MB/s": the benchmark's <c>Size</c> parameter (bytes per operation) divided by the mean time.</summary>
internal sealed class ThroughputColumn : IColumn
{
    public string Id => nameof(ThroughputColumn);

    public string ColumnName => "MB/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Bytes processed per second (Size / Mean), in 10^6 bytes per second";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var size = benchmarkCase.Parameters.Items.FirstOrDefault(p => p.Name == "Size")?.Value;
        var mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        if (size is not int bytes || mean is not { } nanoseconds || nanoseconds <= 0)
        {
            return "-";
        }

        return (bytes / nanoseconds * 1e9 / 1e6).ToString("N0", CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
