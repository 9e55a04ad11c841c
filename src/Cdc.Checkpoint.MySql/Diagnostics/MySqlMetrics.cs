using System.Diagnostics;
using System.Diagnostics.Metrics;
using Cdc.Checkpoint.MySql.Validation;

namespace Cdc.Checkpoint.MySql.Diagnostics;

/// <summary>
/// The MySQL instruments, on a <see cref="Meter"/> named <c>Cdc.Checkpoint</c> like every instrument of the library
/// (a listener enabling that name sees them all).
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><c>cdc.checkpoint.mysql.resume.verdicts</c> (counter, <c>{validation}</c>): resume validations, tagged
/// <c>cdc.verdict</c> (a <see cref="MySqlResumeVerdict"/> name), <c>cdc.flavor</c> (<c>MySql</c> or <c>MariaDb</c>) and
/// <c>cdc.outcome</c> (<c>resume</c>, <c>refused</c> or <c>gap_accepted</c>).</item>
/// </list>
/// Saves of <see cref="Store.MySqlCheckpointStore"/> are measured by the shared <c>cdc.checkpoint.save.duration</c>,
/// <c>cdc.checkpoint.saves</c> and <c>cdc.checkpoint.refusals</c> instruments with <c>cdc.store</c> = <c>mysql_table</c>.
/// </remarks>
internal static class MySqlMetrics
{
    internal const string MeterName = "Cdc.Checkpoint";

    internal static readonly Meter Meter = new(MeterName, typeof(MySqlMetrics).Assembly.GetName().Version?.ToString());

    internal static readonly Counter<long> Verdicts = Meter.CreateCounter<long>(
        "cdc.checkpoint.mysql.resume.verdicts", unit: "{validation}", description: "MySQL and MariaDB resume validations by verdict and outcome.");

    internal static void RecordVerdict(MySqlResumeValidationResult result)
    {
        Verdicts.Add(1, new TagList
        {
            { "cdc.verdict", result.Verdict.ToString() },
            { "cdc.flavor", result.Server.Flavor.ToString() },
            { "cdc.outcome", result.IsRefused ? "refused" : result.GapAccepted ? "gap_accepted" : "resume" },
        });
    }
}
