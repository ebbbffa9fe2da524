#include <stdio.h>

int main(void) {
  puts("hello from a cc_binary with file capabilities");
  return 0;
}
