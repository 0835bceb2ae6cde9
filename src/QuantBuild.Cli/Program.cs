namespace QuantBuild.Cli;

public static class Program
{
    public static int Main(string[] args) => QuantBuildCli.Run(args, Console.Out, Console.Error);
}
