# Fails when a file of the source tree points at one of the two working
# documents the project was started from; they are not shipped, so such a
# pointer leads a reader nowhere (docs/ carries what they said).
#
#   cmake -DSOURCE_DIR=<source tree> -P self_contained_test.cmake
#
# The names are put together from pieces so that this file, and the CTest
# files generated from its registration, do not contain them. In a git
# checkout the files searched are git's (tracked, and untracked ones that
# .gitignore does not exclude, so build trees are skipped); elsewhere (a
# source archive) every file below SOURCE_DIR except .git and build*/.
if(NOT SOURCE_DIR OR NOT IS_DIRECTORY "${SOURCE_DIR}")
  message(FATAL_ERROR "SOURCE_DIR must name the source tree, got '${SOURCE_DIR}'")
endif()
set(design "DESIGN")
string(APPEND design "\\.md")
set(notes "BUILD")
string(APPEND notes "-NOTES")
set(pattern "${design}|${notes}")

find_program(GIT_EXECUTABLE git)
set(searched_with_git FALSE)
if(GIT_EXECUTABLE AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" grep -nIE --untracked "${pattern}" -- .
                  RESULT_VARIABLE rc OUTPUT_VARIABLE found ERROR_VARIABLE error)
  if(rc EQUAL 0)
    message(FATAL_ERROR "files point at documents the repository does not ship; point them at docs/ instead:\n${found}")
  elseif(rc EQUAL 1)
    set(searched_with_git TRUE)  # git grep: 1 = no match
  else()
    message(WARNING "git grep failed (${rc}: ${error}); searching the files directly")
  endif()
endif()

if(NOT searched_with_git)
  file(GLOB_RECURSE files LIST_DIRECTORIES false RELATIVE "${SOURCE_DIR}" "${SOURCE_DIR}/*")
  list(FILTER files EXCLUDE REGEX "^(\\.git|build[^/]*)(/|$)")
  set(found "")
  foreach(file IN LISTS files)
    file(STRINGS "${SOURCE_DIR}/${file}" lines REGEX "${pattern}")
    foreach(line IN LISTS lines)
      string(APPEND found "${file}: ${line}\n")
    endforeach()
  endforeach()
  if(found)
    message(FATAL_ERROR "files point at documents the repository does not ship; point them at docs/ instead:\n${found}")
  endif()
  list(LENGTH files count)
  message(STATUS "searched ${count} files: none points at an unshipped document")
else()
  message(STATUS "git grep: no file points at an unshipped document")
endif()
