using System.Text;
using Xunit;

namespace Cdc.Checkpoint.Proof.Tests.Support;

/// <summary>A TextWriter over the test output, for campaign progress lines.</summary>
public sealed class OutputWriter(ITestOutputHelper output) : TextWriter
{
    public override Encoding Encoding => Encoding.UTF8;

    public override void WriteLine(string? value) => output.WriteLine(value ?? "");

    public override void Write(char value)
    {
        // Campaigns write whole lines only.
    }
}
