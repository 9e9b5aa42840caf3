/* The program's entry: ArduinoCore-API's Common.h declares `int main()`, so main() lives apart. */
extern "C" int ps_host_main(int argc, char **argv);

int main(int argc, char **argv) { return ps_host_main(argc, argv); }
