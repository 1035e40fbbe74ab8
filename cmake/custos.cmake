# Shared compile settings for every custos target.
function(custos_target_settings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
  if(CUSTOS_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(CUSTOS_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(CUSTOS_FUZZ)
  # Instrument every library for coverage; the fuzz mains add -fsanitize=fuzzer themselves.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# custos_library(NAME DIR DEPS...): one static library per component, sources globbed
# from the component folder so parallel work on a component needs no CMake edits.
function(custos_library name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  custos_target_settings(${name})
endfunction()
