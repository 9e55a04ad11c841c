using System.Text.RegularExpressions;
using Shouldly;
using Xunit;

namespace Cdc.Checkpoint.Hosting.Tests;

/// <summary>The getting started of docs/hosting.md is the Program.cs that examples/GettingStarted builds, character for character.</summary>
public sealed partial class DocsTests
{
    [Fact]
    public void HostingDocs_FirstCodeBlock_IsTheProgramThatExamplesGettingStartedBuilds()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Cdc.sln")))
        {
            root = root.Parent;
        }

        root.ShouldNotBeNull("Cdc.sln above the test output");
        var docs = File.ReadAllText(Path.Combine(root.FullName, "docs", "hosting.md"));
        var program = File.ReadAllText(Path.Combine(root.FullName, "examples", "GettingStarted", "Program.cs"));
        var first = CSharpBlock().Match(docs);

        first.Success.ShouldBeTrue("docs/hosting.md has a csharp block");
        first.Groups["code"].Value.ShouldBe(program);
        program.ShouldContain("AddPostgresReplicationConsumer");
        program.ShouldContain("app.Run();");
    }

    [GeneratedRegex(@"```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();
}
