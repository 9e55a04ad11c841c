using Spectre.Console;
using Spectre.Console.Rendering;

namespace Cdc.Checkpoint.Cli.Output;

/// <summary>Where a command writes: a Spectre console for tables on standard output, plain text on standard error.</summary>
internal sealed class Terminal
{
    // Redirected output is read by scripts and grep: never wrap a GTID set or a path in the middle.
    private const int RedirectedWidth = 4096;

    public Terminal(TextWriter output, TextWriter error)
    {
        Output = output;
        Error = error;
        var redirected = !ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected;
        Ansi = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = redirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = redirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = InteractionSupport.No,
        });
        if (redirected)
        {
            Ansi.Profile.Width = RedirectedWidth;
        }
    }

    /// <summary>Standard output as plain text (JSON documents go here).</summary>
    public TextWriter Output { get; }

    /// <summary>Standard error: refusals and errors, one or two lines each.</summary>
    public TextWriter Error { get; }

    /// <summary>Standard output for tables.</summary>
    public IAnsiConsole Ansi { get; }

    /// <summary>Writes one line of text (never interpreted as markup).</summary>
    public void Line(string text = "") => Ansi.Write(new Text(text + "\n"));

    /// <summary>Writes a renderable (a table).</summary>
    public void Write(IRenderable renderable) => Ansi.Write(renderable);

    /// <summary>A table cell that shows <paramref name="text"/> literally (file names may hold '[').</summary>
    public static Text Cell(string? text) => new(text ?? string.Empty);
}
