using BenchmarkDotNet.Running;

// Runs the benchmarks named on the command line (BenchmarkDotNet switcher), e.g.
//   dotnet run -c Release --project bench/Cdc.Checkpoint.Benchmarks -- --filter '*Crc32C*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
